import pytest
import torch

from probekit.backbones import build_backbone
from probekit.errors import ProbekitError


def test_pixel_patches_are_the_raw_patches():
    backbone = build_backbone("pixels-p8")
    x = torch.randn(2, 3, 16, 24)  # (B, 3, 2*8, 3*8)
    out = backbone.forward_layers(x, [0], norm=True)[0]
    assert out.patch.shape == (2, 2, 3, 3 * 8 * 8)
    # patch (row 1, col 2) of image 1 is x[1, :, 8:16, 16:24] flattened channel-major
    torch.testing.assert_close(out.patch[1, 1, 2], x[1, :, 8:16, 16:24].reshape(-1))
    torch.testing.assert_close(out.mean, out.patch.mean(dim=(1, 2)))
    torch.testing.assert_close(out.cls, out.mean)
    assert backbone.global_source == "mean" and backbone.embed_dim == 192


def test_any_pixels_patch_size_resolves_by_name():
    from probekit.backbones.spec import resolve_spec

    spec = resolve_spec("pixels-p32")  # a ConvNeXt's or ResNet's stride: the pixels baseline a suite adds
    backbone = build_backbone("pixels-p32")
    assert spec.kwargs == {"patch_size": 32} and backbone.patch_size == 32 and backbone.embed_dim == 3 * 32 * 32
    with pytest.raises(ProbekitError):
        resolve_spec("pixels-p65")
