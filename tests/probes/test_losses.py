import math

import numpy as np
import pytest
import torch

from probekit.probes.losses import GRADIENT_LOSS_STRIDES, gradient_loss, silog_loss


def _dinov2_sigloss(pred, target, eps=1e-3):
    """DINOv2 SigLoss.sigloss (valid_mask=True, no warm-up), transcribed for comparison."""
    valid = target > 0
    g = torch.log(pred[valid] + eps) - torch.log(target[valid] + eps)
    return torch.sqrt(torch.var(g) + 0.15 * torch.pow(torch.mean(g), 2))


def _dinov2_gradient_loss(inp, target, eps=1e-3):
    """DINOv2 GradientLoss.gradientloss (valid_mask=True) transcribed: it indexes dims 0 and 1."""
    inputs = [inp] + [inp[:: 2 * i, :: 2 * i] for i in range(1, 4)]
    targets = [target] + [target[:: 2 * i, :: 2 * i] for i in range(1, 4)]
    loss = 0
    for x, t in zip(inputs, targets, strict=True):
        mask = t > 0
        n = torch.sum(mask)
        r = torch.mul(torch.log(x + eps) - torch.log(t + eps), mask)
        v = torch.mul(torch.abs(r[0:-2, :] - r[2:, :]), torch.mul(mask[0:-2, :], mask[2:, :]))
        h = torch.mul(torch.abs(r[:, 0:-2] - r[:, 2:]), torch.mul(mask[:, 0:-2], mask[:, 2:]))
        loss += (torch.sum(h) + torch.sum(v)) / n
    return loss


def _numpy_gradient_loss(p, t, valid, strides=(1, 2, 4, 6), eps=1e-3):
    """Spatial gradient loss with explicit loops over (b, i, j), pooled valid count per stride."""
    total = 0.0
    for s in strides:
        ps, ts, ms = p[:, ::s, ::s], t[:, ::s, ::s], valid[:, ::s, ::s]
        r = np.where(ms, np.log(np.where(ms, ps, 1) + eps) - np.log(np.where(ms, ts, 1) + eps), 0.0)
        acc = 0.0
        b, h, w = r.shape
        for k in range(b):
            for i in range(h):
                for j in range(w):
                    if i + 2 < h and ms[k, i, j] and ms[k, i + 2, j]:
                        acc += abs(r[k, i, j] - r[k, i + 2, j])
                    if j + 2 < w and ms[k, i, j] and ms[k, i, j + 2]:
                        acc += abs(r[k, i, j] - r[k, i, j + 2])
        total += acc / max(ms.sum(), 1)
    return total


def _depths(shape, seed=0, invalid=0.2):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g) * 9 + 0.5
    target[torch.rand(shape, generator=g) < invalid] = 0
    pred = target * (torch.rand(shape, generator=g) * 0.8 + 0.6) + 0.1
    return pred, target


# --- SigLoss ---------------------------------------------------------------------------------------------------


def test_silog_perfect_prediction_is_zero():
    _, t = _depths((2, 1, 8, 8))
    assert silog_loss(t, t).item() == pytest.approx(0.0, abs=1e-6)


def test_silog_constant_log_offset_by_hand():
    _, t = _depths((2, 1, 8, 8))
    c = 0.3
    loss = silog_loss(t * math.exp(c), t, eps=0.0)  # g = c everywhere: Var = 0, loss = sqrt(0.15) * c
    assert loss.item() == pytest.approx(math.sqrt(0.15) * c, rel=1e-4)


def test_silog_two_pixels_by_hand():
    pred, target = torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1.0])
    l2 = math.log(2) ** 2
    # g = (0, log 2): unbiased Var = l2 / 2, mean**2 = l2 / 4
    assert silog_loss(pred, target, eps=0.0).item() == pytest.approx(math.sqrt(l2 / 2 + 0.15 * l2 / 4), rel=1e-6)
    # biased variance = Probe3D's sqrt(mean(g**2) - 0.85 mean(g)**2)
    biased = silog_loss(pred, target, eps=0.0, unbiased=False).item()
    assert biased == pytest.approx(math.sqrt(l2 / 2 - 0.85 * l2 / 4), rel=1e-6)
    assert silog_loss(pred, target, eps=0.0, warm_up=True).item() == pytest.approx(math.sqrt(0.15 * l2 / 4), rel=1e-6)


def test_silog_matches_dinov2_formula_and_pools_the_batch():
    pred, target = _depths((3, 1, 10, 12), seed=1)
    torch.testing.assert_close(silog_loss(pred, target), _dinov2_sigloss(pred, target))


def test_silog_mask_respected_and_gradients_flow():
    pred, target = _depths((2, 6, 6), seed=2)
    valid = target > 0
    pred = pred.clone().requires_grad_(True)
    loss = silog_loss(pred, target)
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    assert (pred.grad[~valid] == 0).all() and (pred.grad[valid] != 0).any()
    garbage = pred.detach().clone()
    garbage[~valid] = 123.0
    assert silog_loss(garbage, target).item() == pytest.approx(loss.item())
    explicit = valid & (target < 5)  # a custom mask overrides target > 0
    sub = silog_loss(pred.detach()[explicit], target[explicit])
    assert silog_loss(pred.detach(), target, valid=explicit).item() == pytest.approx(sub.item())


def test_silog_without_valid_pixels_is_zero_and_differentiable():
    pred = torch.ones(1, 4, 4, requires_grad=True)
    loss = silog_loss(pred, torch.zeros(1, 4, 4))
    loss.backward()
    assert loss.item() == 0.0 and (pred.grad == 0).all()


# --- gradient loss ---------------------------------------------------------------------------------------------


def test_gradient_perfect_and_scaled_predictions_are_zero():
    _, t = _depths((2, 12, 12), seed=3)
    assert gradient_loss(t, t).item() == pytest.approx(0.0, abs=1e-7)
    assert gradient_loss(2.5 * t, t, eps=0.0).item() == pytest.approx(0.0, abs=1e-5)  # scale-invariant
    assert gradient_loss(2.5 * t, t).item() < 1e-2  # eps = 1e-3 breaks it only slightly
    assert silog_loss(2.5 * t, t).item() > 0.3  # while SigLoss does see a scale


def test_gradient_loss_by_hand():
    pred = torch.tensor([[1.0, 1.0, 2.0]])  # (H=1, W=3)
    target = torch.ones(1, 3)
    # stride 1: one horizontal pair 2 apart, |0 - log 2|, over N = 3 valid; strides 2, 4, 6: width < 3, no pair
    assert gradient_loss(pred, target, eps=0.0).item() == pytest.approx(math.log(2) / 3)
    assert GRADIENT_LOSS_STRIDES == (1, 2, 4, 6)


def test_gradient_loss_matches_loop_reference_with_mask():
    pred, target = _depths((2, 13, 15), seed=4)
    ours = gradient_loss(pred, target)
    ref = _numpy_gradient_loss(pred.double().numpy(), target.double().numpy(), (target > 0).numpy())
    assert ours.item() == pytest.approx(ref, rel=1e-5)
    # (B, 1, H, W) is squeezed to the same spatial computation
    assert gradient_loss(pred[:, None], target[:, None]).item() == pytest.approx(ours.item())


def test_gradient_loss_mask_respected_and_gradients_flow():
    pred, target = _depths((2, 9, 9), seed=5)
    valid = target > 0
    pred = pred.clone().requires_grad_(True)
    loss = gradient_loss(pred, target)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and (pred.grad[~valid] == 0).all() and (pred.grad[valid] != 0).any()
    garbage = pred.detach().clone()
    garbage[~valid] = -5.0  # would be NaN in a log if it were used
    assert gradient_loss(garbage, target).item() == pytest.approx(loss.item())
    assert gradient_loss(pred.detach(), torch.zeros_like(target)).item() == 0.0


def test_gradient_loss_as_shipped_reproduces_dinov2_on_4d_tensors():
    pred, target = _depths((7, 1, 6, 8), seed=6)
    shipped = gradient_loss(pred, target, as_shipped=True)
    torch.testing.assert_close(shipped, _dinov2_gradient_loss(pred, target))
    # what the shipped code measures: image b against image b + 2, no spatial term at all
    assert gradient_loss(pred[:2], target[:2], as_shipped=True).item() == 0.0
    assert shipped.item() != pytest.approx(gradient_loss(pred, target).item())
    with pytest.raises(ValueError, match="B, 1, H, W"):
        gradient_loss(pred[:, 0], target[:, 0], as_shipped=True)
