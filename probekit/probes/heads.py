"""Linear heads of the published protocols, each a few lines (shapes in comments).

- `LinearClassifier`: DINOv2's linear eval head (nn.Linear, weights ~ N(0, 0.01), zero bias).
- `SegmentationHead`: DINOv2's linear segmentation head: BatchNorm + 1x1 conv on the patch grid.
- `DepthBinsHead`: DINOv2's linear depth head: bilinear x4 upsampling, 1x1 conv to bins over
  [min, max] depth, "linear" normalisation (ReLU + 0.1, normalised), depth = sum of p * bin centres.
- `DepthRegressionHead`: the alternative: 1x1 conv to log depth.

The depth heads apply the 1x1 conv before the bilinear upsampling. Both are linear maps (one over
channels, one over space, with interpolation weights summing to 1), so they commute and the result
is DINOv2's upsample-then-conv exactly, at 1/16 of the cost.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from probekit.probes.resize import resize_bilinear


class LinearClassifier(nn.Module):
    def __init__(self, in_dim: int, num_classes: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, num_classes)
        self.linear.weight.data.normal_(mean=0.0, std=0.01)
        self.linear.bias.data.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.linear(x)  # (B, F) -> (B, C)
        return logits


class SegmentationHead(nn.Module):
    def __init__(self, in_dim: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_dim)
        self.conv = nn.Conv2d(in_dim, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.conv(self.bn(x))  # (B, D, h, w) -> (B, C, h, w) logits at patch resolution
        return logits


def _upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    return resize_bilinear(x, (h * factor, w * factor))


def bin_centres(min_depth: float, max_depth: float, n_bins: int, spacing: str) -> torch.Tensor:
    """Depth of each bin: uniform ('linear', DINOv2's 'UD') or geometric ('log') over [min, max]."""
    if spacing == "linear":
        return torch.linspace(min_depth, max_depth, n_bins)
    if spacing == "log":
        return torch.logspace(math.log10(min_depth), math.log10(max_depth), n_bins)
    raise ValueError(f"bin spacing must be 'linear' or 'log', not {spacing!r}")


class DepthBinsHead(nn.Module):
    def __init__(
        self,
        in_dim: int,
        min_depth: float,
        max_depth: float,
        n_bins: int = 256,
        spacing: str = "linear",
        upsample: int = 4,
    ):
        super().__init__()
        self.upsample = upsample
        self.conv = nn.Conv2d(in_dim, n_bins, kernel_size=1)
        self.register_buffer("bins", bin_centres(min_depth, max_depth, n_bins, spacing), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = _upsample(self.conv(x), self.upsample)  # (B, K, 4h, 4w), conv at patch resolution
        logits = torch.relu(logits) + 0.1
        # sum_k p_k c_k with p = logits / sum(logits), without materialising p
        return torch.einsum("bkhw,k->bhw", logits, self.bins) / logits.sum(dim=1)  # (B, 4h, 4w) metres


class DepthRegressionHead(nn.Module):
    def __init__(self, in_dim: int, min_depth: float, max_depth: float, upsample: int = 4):
        super().__init__()
        self.upsample = upsample
        self.min_depth, self.max_depth = min_depth, max_depth
        self.conv = nn.Conv2d(in_dim, 1, kernel_size=1)
        assert self.conv.bias is not None  # nn.Conv2d has a bias by default
        self.conv.bias.data.fill_(math.log(math.sqrt(min_depth * max_depth)))  # start at the geometric middle

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_depth = _upsample(self.conv(x), self.upsample)[:, 0]  # (B, 4h, 4w)
        return log_depth.exp().clamp(self.min_depth, self.max_depth)
