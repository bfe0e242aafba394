"""Depth losses of the DINOv2 depth heads and Probe3D: SigLoss and the multi-scale gradient loss.

Sources (read, not copied):
- facebookresearch/dinov2 `dinov2/eval/depth/models/losses/sigloss.py` and `gradientloss.py`;
  zhyever/Monocular-Depth-Estimation-Toolbox `depth/models/losses/sigloss.py` (same SigLoss, eps 1e-3 at HEAD);
- mbanani/probe3d `evals/utils/losses.py` (`sig_loss`, `gradient_loss`, `DepthLoss` = 10 * sig + 0.5 * grad).
Both references pool the valid pixels of the whole batch (one statistic per batch, not per image).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["GRADIENT_LOSS_STRIDES", "gradient_loss", "silog_loss"]

# DINOv2/Probe3D downscale with `x[::2 * i, ::2 * i] for i in range(1, 4)` after the full map: strides 1, 2, 4, 6
# (sic: not 8).
GRADIENT_LOSS_STRIDES = (1, 2, 4, 6)


def silog_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
    lambd: float = 0.15,
    eps: float = 1e-3,
    unbiased: bool = True,
    warm_up: bool = False,
) -> torch.Tensor:
    """Scale-invariant log loss ("SigLoss", AdaBins form) over the valid pixels of the batch.  # () scalar

    g = log(pred + eps) - log(target + eps); loss = sqrt(Var(g) + lambd * mean(g)**2) -- a PLUS sign, as in
    DINOv2 `dinov2/eval/depth/models/losses/sigloss.py`, with `torch.var` (unbiased, N - 1) by default. With the
    biased variance this equals Probe3D's sqrt(mean(g**2) - 0.85 * mean(g)**2) (`evals/utils/losses.py`,
    `sig_loss`), since Var_biased(g) + 0.15 mean(g)**2 = mean(g**2) - 0.85 mean(g)**2.
    `warm_up=True` gives the references' warm-up form, sqrt(lambd * mean(g)**2), which they use for the first
    `warm_iter` (100) steps when `warm_up` is configured; the caller counts the steps.
    `valid` defaults to finite target > 0 (the references' `valid_mask=True`; NaN and inf are missing depths).
    The loss weight (DINOv2 and Probe3D: 10) is the caller's. With fewer than two valid pixels the loss is 0
    (the references give NaN).
    """
    if valid is None:
        valid = (target > 0) & torch.isfinite(target)  # NaN and inf are missing depths
    p, t = pred[valid], target[valid]  # (N,)
    if p.numel() < (2 if unbiased and not warm_up else 1):
        return pred.sum() * 0.0
    g = torch.log(p + eps) - torch.log(t + eps)  # (N,)
    if warm_up:
        return torch.sqrt(lambd * g.mean() ** 2)
    var = torch.var(g, correction=1 if unbiased else 0)
    return torch.sqrt(var + lambd * g.mean() ** 2)


def gradient_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
    strides: tuple[int, ...] = GRADIENT_LOSS_STRIDES,
    eps: float = 1e-3,
    as_shipped: bool = False,
) -> torch.Tensor:
    """Multi-scale gradient-matching loss on the log-depth residual (MegaDepth; DINOv2 `GradientLoss`).  # ()

    At each stride s the maps are subsampled x[..., ::s, ::s]; with R = (log(pred + eps) - log(target + eps)) * m
    and m the valid mask, the loss adds (sum |R[i] - R[i+2]| m[i] m[i+2] over rows and over columns) / N_s, N_s
    the number of valid pixels at that stride (differences 2 pixels apart, sic). The terms are summed over the
    strides (not averaged). A prediction equal to the target times a constant gives ~0 (exactly 0 when eps = 0):
    only the shape of the depth map is penalised. The weight (DINOv2, Probe3D: 0.5) is the caller's.

    pred, target: (H, W), (B, H, W) or (B, 1, H, W); the valid pixels of the batch are pooled in N_s.
    `valid` defaults to finite target > 0. A stride without valid pixels adds 0 (the references give NaN).

    `as_shipped=True` reproduces what DINOv2 and Probe3D actually compute: their code indexes dims 0 and 1,
    which are (batch, channel) for the (B, 1, H, W) tensors they pass, so the "downscaling" strides over the
    batch and the "vertical gradient" compares image b with image b + 2 (zero for B <= 2); there is no spatial
    term. Pass (B, 1, H, W) tensors then.
    """
    if valid is None:
        valid = (target > 0) & torch.isfinite(target)  # NaN and inf are missing depths
    sub: Callable[[torch.Tensor, int], torch.Tensor]  # (tensor, stride) -> the tensor subsampled at that stride
    if as_shipped:
        if pred.ndim != 4:
            raise ValueError(f"as_shipped=True expects (B, 1, H, W) tensors as DINOv2 passes, got {tuple(pred.shape)}")
        sub = lambda x, s: x[::s, ::s]  # noqa: E731 -- dims 0 and 1, exactly as the references index
        dims = (0, 1)
    else:
        if pred.ndim == 4 and pred.shape[1] == 1:
            pred, target, valid = pred[:, 0], target[:, 0], valid[:, 0]  # (B, H, W)
        sub = lambda x, s: x[..., ::s, ::s]  # noqa: E731
        dims = (pred.ndim - 2, pred.ndim - 1)

    loss = pred.new_zeros(())
    for s in strides:
        p, t, m = sub(pred, s), sub(target, s), sub(valid, s)
        mf = m.to(p.dtype)
        n = mf.sum().clamp(min=1)
        # off-mask pixels set to 1 before the log, so a non-positive target there cannot make NaN
        r = (torch.log(torch.where(m, p, 1.0) + eps) - torch.log(torch.where(m, t, 1.0) + eps)) * mf
        total = p.new_zeros(())
        for dim in dims:
            size = r.shape[dim]
            if size <= 2:
                continue
            a, b = r.narrow(dim, 0, size - 2), r.narrow(dim, 2, size - 2)
            pair = mf.narrow(dim, 0, size - 2) * mf.narrow(dim, 2, size - 2)
            total = total + ((a - b).abs() * pair).sum()
        loss = loss + total / n
    return loss
