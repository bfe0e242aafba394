"""DINO's projection head: MLP -> L2 normalisation -> weight-normalised prototypes (dinov2/layers/dino_head.py)."""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class DINOHead(nn.Module):
    """(..., in_dim) -> (..., prototypes) logits.

    The last layer is `weight_norm(Linear(bottleneck, prototypes, bias=False))`: each prototype is a
    direction v / |v| times a scale g, with g = 1. With `norm_last_layer` (DINO v1's default) g stays
    fixed at 1, so the logits are cosine similarities of the normalised bottleneck to unit prototypes.
    """

    def __init__(
        self,
        in_dim: int,
        prototypes: int,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        layers: int = 3,
        norm_last_layer: bool = True,
    ):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (max(layers, 1) - 1) + [bottleneck_dim]
        mlp: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(dims)):
            mlp.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                mlp.append(nn.GELU())
        self.mlp = nn.Sequential(*mlp)
        self.apply(_init_linear)
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, prototypes, bias=False))
        scale = self.last_layer.parametrizations.weight.original0  # g: (prototypes, 1)
        scale.data.fill_(1.0)
        scale.requires_grad_(not norm_last_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mlp(x)
        eps = 1e-6 if x.dtype == torch.float16 else 1e-12
        x = nn.functional.normalize(x, dim=-1, p=2, eps=eps)
        logits: torch.Tensor = self.last_layer(x)  # (N, prototypes)
        return logits


def _init_linear(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
