import pytest
import torch
import torch.nn.functional as F

from probekit.probes.resize import resize_bilinear


@pytest.mark.parametrize(
    ("shape", "size"),
    [((2, 3, 14, 14), (56, 56)), ((1, 5, 7, 9), (224, 160)), ((4, 16, 16), (12, 20)), ((2, 1, 3, 3), (3, 3))],
)
def test_equals_torch_bilinear_interpolation(shape, size):
    x = torch.randn(*shape, dtype=torch.float64)
    reference = F.interpolate(x if x.ndim == 4 else x[:, None], size=size, mode="bilinear", align_corners=False)
    reference = reference if x.ndim == 4 else reference[:, 0]
    torch.testing.assert_close(resize_bilinear(x, size), reference)


def test_gradients_match():
    x = torch.randn(2, 3, 5, 6, requires_grad=True)
    weights = torch.randn(2, 3, 20, 24)
    (resize_bilinear(x, (20, 24)) * weights).sum().backward()
    ours = x.grad.clone()
    x.grad = None
    (F.interpolate(x, size=(20, 24), mode="bilinear", align_corners=False) * weights).sum().backward()
    torch.testing.assert_close(ours, x.grad)
