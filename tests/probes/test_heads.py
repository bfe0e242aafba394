import math

import pytest
import torch

from probekit.probes.heads import (
    BinsReadout,
    DepthBinsHead,
    DepthRegressionHead,
    LinearClassifier,
    SegmentationHead,
    bin_centres,
)


def test_linear_classifier_init_follows_dinov2():
    torch.manual_seed(0)
    head = LinearClassifier(1000, 50)
    assert abs(head.linear.weight.std().item() - 0.01) < 1e-3 and head.linear.bias.abs().max() == 0


def test_segmentation_head_shapes():
    logits = SegmentationHead(8, 5)(torch.randn(2, 8, 3, 4))
    assert logits.shape == (2, 5, 3, 4)


def test_depth_bins_head_is_a_convex_combination_of_bin_centres():
    head = DepthBinsHead(6, 0.5, 10.0, n_bins=16, upsample=4)
    x = torch.randn(2, 6, 3, 5)
    depth = head(x)
    assert depth.shape == (2, 12, 20)
    assert depth.min() >= 0.5 and depth.max() <= 10.0
    # by hand: DINOv2's "linear" normalisation of the conv logits
    up = torch.nn.functional.interpolate(x, size=(12, 20), mode="bilinear", align_corners=False)
    logits = torch.relu(head.conv(up)) + 0.1
    expected = (logits / logits.sum(1, keepdim=True) * torch.linspace(0.5, 10.0, 16)[None, :, None, None]).sum(1)
    torch.testing.assert_close(depth, expected)


def _dinov2_readout(logits: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """DINOv2's decode_head.py readout, left to autograd: relu + 0.1, normalise, einsum with the bins."""
    shifted = torch.relu(logits) + 0.1
    return torch.einsum("ikmn,k->imn", shifted / shifted.sum(dim=1, keepdim=True), bins)


def test_bins_readout_forward_and_backward_equal_autograd_through_dinov2_formula():
    torch.manual_seed(0)
    logits = torch.randn(3, 7, 4, 5, dtype=torch.float64)
    logits[0, :, 0, 0] = -1.0  # every bin off at one pixel: p uniform, gradient zero there
    logits[1, 2, 1, 1] = 0.0  # exactly at relu's kink: no gradient, as torch.relu
    bins = torch.linspace(0.1, 8.0, 7, dtype=torch.float64)
    grad = torch.randn(3, 4, 5, dtype=torch.float64)
    ours, theirs = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    depth = BinsReadout.apply(ours, bins)
    expected = _dinov2_readout(theirs, bins)
    torch.testing.assert_close(depth, expected, rtol=1e-12, atol=1e-12)
    depth.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-12, atol=1e-12)
    assert ours.grad[0, :, 0, 0].abs().max() == 0 and ours.grad[1, 2, 1, 1] == 0
    away_from_kinks = torch.randn(2, 5, 3, 3, dtype=torch.float64)
    away_from_kinks = away_from_kinks + away_from_kinks.sign() * 0.1  # finite differences stay off relu's kink
    assert torch.autograd.gradcheck(lambda u: BinsReadout.apply(u, bins[:5]), (away_from_kinks.requires_grad_(),))


def test_depth_bins_head_trains_as_the_autograd_formula_in_float32():
    torch.manual_seed(1)
    head = DepthBinsHead(6, 1e-3, 20.0, n_bins=32)
    x = torch.randn(4, 6, 3, 3)
    head(x).square().mean().backward()
    ours = head.conv.weight.grad.clone()
    head.zero_grad()
    _dinov2_readout(
        torch.nn.functional.interpolate(head.conv(x), scale_factor=4, mode="bilinear"), head.bins
    ).square().mean().backward()
    torch.testing.assert_close(ours, head.conv.weight.grad, rtol=1e-4, atol=1e-6)


def test_bin_spacings():
    torch.testing.assert_close(bin_centres(1.0, 3.0, 3, "linear"), torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(bin_centres(1.0, 100.0, 3, "log"), torch.tensor([1.0, 10.0, 100.0]))
    with pytest.raises(ValueError):
        bin_centres(1.0, 2.0, 3, "cubic")


def test_regression_head_starts_at_the_geometric_middle_and_stays_in_range():
    head = DepthRegressionHead(4, 0.1, 10.0)
    torch.nn.init.zeros_(head.conv.weight)
    depth = head(torch.randn(1, 4, 2, 2))
    torch.testing.assert_close(depth, torch.full((1, 8, 8), math.sqrt(0.1 * 10.0)))
    head.conv.bias.data.fill_(100.0)
    assert head(torch.randn(1, 4, 2, 2)).max() == 10.0


def test_conv_before_upsampling_equals_dinov2_order_for_regression_head():
    head = DepthRegressionHead(6, 0.1, 100.0)
    x = torch.randn(2, 6, 3, 5)
    up = torch.nn.functional.interpolate(x, size=(12, 20), mode="bilinear", align_corners=False)
    expected = head.conv(up)[:, 0].exp().clamp(0.1, 100.0)
    torch.testing.assert_close(head(x), expected, rtol=1e-5, atol=1e-5)
