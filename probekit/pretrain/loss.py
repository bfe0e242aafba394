"""DINO's CLS-token loss and iBOT's masked-patch loss, each with its own teacher centering.

Teacher logits are centred by a running mean (`center`, momentum 0.9) and sharpened by a low
temperature; the student's distribution uses `student_temp`. Each step uses the center of the
previous steps and then folds in the current batch (as dinov2/loss/dino_clstoken_loss.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _Centering(nn.Module):
    center: torch.Tensor  # (1, K) running mean of the teacher logits (a buffer)

    def __init__(self, dim: int, center_momentum: float):
        super().__init__()
        self.center_momentum = center_momentum
        self.register_buffer("center", torch.zeros(1, dim))

    @torch.no_grad()
    def teacher_probs(self, teacher_logits: torch.Tensor, teacher_temp: float) -> torch.Tensor:
        """(N, K) logits -> (N, K) centred, sharpened probabilities."""
        return F.softmax((teacher_logits.float() - self.center) / teacher_temp, dim=-1)

    @torch.no_grad()
    def update_center(self, teacher_logits: torch.Tensor) -> None:
        """center <- m * center + (1 - m) * mean of this batch's (N, K) teacher logits."""
        batch_center = teacher_logits.float().mean(dim=0, keepdim=True)  # (1, K)
        self.center.mul_(self.center_momentum).add_(batch_center, alpha=1 - self.center_momentum)


class DINOLoss(_Centering):
    """Cross-entropy H(teacher view i, student view j) averaged over all pairs with i != j."""

    def __init__(self, dim: int, student_temp: float = 0.1, center_momentum: float = 0.9):
        super().__init__(dim, center_momentum)
        self.student_temp = student_temp

    def forward(self, student_logits: list[torch.Tensor], teacher_probs: list[torch.Tensor]) -> torch.Tensor:
        """student_logits: V views of (B, K), the teacher's views first (same order); teacher_probs:
        T <= V views of (B, K). Returns the mean over the T * V - T pairs of the batch-mean CE."""
        total, terms = torch.zeros(()), 0  # 0-dim: joins any device's losses as a scalar
        for j, s in enumerate(student_logits):
            log_p = F.log_softmax(s.float() / self.student_temp, dim=-1)  # (B, K)
            for i, t in enumerate(teacher_probs):
                if i == j:
                    continue  # a view is not distilled into itself
                total = total - (t * log_p).sum(dim=-1).mean()
                terms += 1
        return total / max(terms, 1)


class IBOTPatchLoss(_Centering):
    """Cross-entropy between teacher and student at masked patches: each masked crop weighs 1,
    shared equally among its masked patches, and the sum is divided by the number of crops."""

    def __init__(self, dim: int, student_temp: float = 0.1, center_momentum: float = 0.9):
        super().__init__(dim, center_momentum)
        self.student_temp = student_temp

    def forward(self, student_logits: torch.Tensor, teacher_probs: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """student_logits, teacher_probs: (M, K) at the M masked patches of `masks` (n, N) bool,
        in `masks[masks]` order."""
        ce = -(teacher_probs * F.log_softmax(student_logits.float() / self.student_temp, dim=-1)).sum(-1)  # (M,)
        weight = (1.0 / masks.sum(-1).clamp(min=1).float()).unsqueeze(-1).expand_as(masks)[masks]  # (M,)
        return (ce * weight).sum() / masks.shape[0]


def koleo_loss(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """KoLeo regulariser (Sablayrolles et al. 2018, DINOv2): -mean log distance of each L2-normalised
    row of (B, D) to its nearest other row; spreads the CLS tokens of a batch apart."""
    x = F.normalize(x.float(), p=2, dim=-1, eps=eps)
    dots = x @ x.T  # (B, B)
    dots.fill_diagonal_(-1)  # never its own neighbour
    nearest = dots.argmax(dim=1)  # (B,)
    distances = F.pairwise_distance(x, x[nearest], p=2, eps=eps)  # (B,)
    return -torch.log(distances + eps).mean()
