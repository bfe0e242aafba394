"""Surface-normal losses of Probe3D (mbanani/probe3d, evals/utils/losses.py), read, not copied.

- `angular_loss`: the angle acos(cos(pred, target)) in radians, the cosine clamped to [-1 + eps, 1 - eps]
  (eps 1e-4) so its gradient stays finite, averaged over the valid pixels of the batch (Probe3D's
  `angular_loss` without the uncertainty term, which needs a fourth output channel).
- `l1_loss`: Probe3D's `snorm_l1_loss`: |pred - target| averaged over the 3 components, then over the
  valid pixels of the batch; the prediction is not normalised first (as in Probe3D).
"""

from __future__ import annotations

import torch

from probekit.metrics.normals import cosine_along_channels

ANGLE_EPS = 1e-4


def angular_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) pred and target, (B, H, W) bool valid -> () the mean angle in radians over valid pixels."""
    if not bool(valid.any()):
        return pred.sum() * 0.0  # no valid pixel in the batch: no gradient, not NaN
    cos = cosine_along_channels(pred, target)  # (B, H, W), both normalised (F.cosine_similarity, faster on CPU)
    return cos.clamp(-1 + ANGLE_EPS, 1 - ANGLE_EPS).acos()[valid].mean()


def l1_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) pred and target, (B, H, W) bool valid -> () mean absolute difference over valid pixels."""
    if not bool(valid.any()):
        return pred.sum() * 0.0
    return (pred - target).abs().mean(1)[valid].mean()  # (B, H, W) -> ()


LOSSES = {"angular": angular_loss, "l1": l1_loss}
