"""A linear projection of frozen patch features trained for matching, with InfoNCE or SigLIP's sigmoid loss.

Rows are source keypoints, columns the M cells of the target grid of the same pair; the ground-truth
cell of each row is its only positive, every other cell of that target a negative. With sim_ij the
cosine similarity of the projected features:
    InfoNCE:  logits = sim / τ;        loss = mean_i -log softmax_j(logits_i)[pos_i]        (τ fixed)
    sigmoid:  logits = t · sim + b;    loss = -(1/N) Σ_i Σ_j log σ(z_ij · logits_ij),
              z_ij = +1 at the positive, -1 elsewhere; t = exp(t') and b learnable, initialised
              t' = log 10, b = -10 (SigLIP, Zhai et al. 2023). SigLIP divides the sum over all
              pairs by the batch size; here the rows are the N source points, so it divides by N.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from probekit.errors import ProbekitError
from probekit.registry import Registry


def infonce_loss(logits: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """(N, M) logits, (N,) positive column per row -> () mean softmax cross-entropy."""
    return F.cross_entropy(logits, positive)


def sigmoid_loss(logits: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """(N, M) logits, (N,) positive column per row -> () -(1/N) Σ_ij log σ(z_ij · logits_ij)."""
    z = -torch.ones_like(logits)
    z[torch.arange(len(positive), device=logits.device), positive] = 1.0  # (N, M) ±1
    return F.softplus(-z * logits).sum() / max(len(positive), 1)  # -log σ(x) = softplus(-x)


class InfoNCE(nn.Module):
    """Logits sim / τ for `infonce_loss`; no learnable parameter."""

    loss = staticmethod(infonce_loss)

    def __init__(self, temperature: float = 0.07):
        super().__init__()
        if temperature <= 0:
            raise ProbekitError(f"InfoNCE temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(self, similarity: torch.Tensor) -> torch.Tensor:
        return similarity / self.temperature

    def describe(self) -> dict[str, Any]:
        return {"loss": "infonce", "temperature": self.temperature}


class SigmoidPairwise(nn.Module):
    """Logits exp(t') · sim + b for `sigmoid_loss`, t' and b learnable (SigLIP's initialisation)."""

    loss = staticmethod(sigmoid_loss)

    def __init__(self, log_scale: float = math.log(10.0), bias: float = -10.0):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(float(log_scale)))
        self.bias = nn.Parameter(torch.tensor(float(bias)))

    def forward(self, similarity: torch.Tensor) -> torch.Tensor:
        return self.log_scale.exp() * similarity + self.bias

    def describe(self) -> dict[str, Any]:
        return {
            "loss": "sigmoid",
            "scale": float(self.log_scale.detach().exp()),
            "bias": float(self.bias.detach()),
            "init": "t' = log 10, b = -10 (SigLIP)",
            "normalised_by": "number of source points",
        }


PROJECTION_LOSSES: Registry[type[nn.Module]] = Registry("projection loss", ProbekitError)
PROJECTION_LOSSES.register("infonce", InfoNCE)
PROJECTION_LOSSES.register("sigmoid", SigmoidPairwise)


class PatchProjection(nn.Module):
    """Linear D -> d without bias. Identity at init when d == D (training starts from the zero-shot
    features); otherwise a random orthogonal map."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim, bias=False)
        if in_dim == out_dim:
            nn.init.eye_(self.linear.weight)
        else:
            nn.init.orthogonal_(self.linear.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        projected: torch.Tensor = self.linear(x)  # (..., D) -> (..., d)
        return projected


class ContrastiveProjection(nn.Module):
    """A projection and its loss's logit map; `forward(batch)` gives the logits of the annotated points.

    batch: src (B, K, D) features of the source keypoints' cells, trg (B, M, D) target grids,
    valid (B, K) which keypoints are real. Returns (N, M) logits, N = number of valid keypoints.
    """

    def __init__(self, in_dim: int, out_dim: int, criterion: nn.Module):
        super().__init__()
        self.projection = PatchProjection(in_dim, out_dim)
        self.criterion = criterion

    def similarity(self, src: torch.Tensor, trg: torch.Tensor) -> torch.Tensor:
        """(B, K, D) x (B, M, D) -> (B, K, M) cosine similarity after the projection."""
        s = F.normalize(self.projection(src), dim=-1)
        t = F.normalize(self.projection(trg), dim=-1)
        return s @ t.transpose(1, 2)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        sim = self.similarity(batch["src"], batch["trg"])  # (B, K, M)
        logits: torch.Tensor = self.criterion(sim[batch["valid"].bool()])  # (N, M)
        return logits
