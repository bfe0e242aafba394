"""Linear heads of the published protocols, each a few lines (shapes in comments).

- `LinearClassifier`: DINOv2's linear eval head (nn.Linear, weights ~ N(0, 0.01), zero bias).
- `SegmentationHead`: DINOv2's linear segmentation head: BatchNorm + 1x1 conv on the patch grid.
- `DepthBinsHead`: DINOv2's linear depth head: bilinear x4 upsampling, 1x1 conv to bins over
  [min, max] depth, "linear" normalisation (ReLU + 0.1, normalised), depth = sum of p * bin centres.
- `DepthRegressionHead`: the alternative: 1x1 conv to log depth.
- `DPTDecoder`: the multi-layer alternative to the linear heads' single 1x1 conv (`--head dpt`): DPT's
  reassemble + fusion decoder (Ranftl et al. 2021) over 4 layers' patch grids, giving a (B, F, 4h, 4w) map
  that the task's own readout (one of the heads above) turns into logits or depth.

The depth heads apply the 1x1 conv before the bilinear upsampling. Both are linear maps (one over
channels, one over space, with interpolation weights summing to 1), so they commute and the result
is DINOv2's upsample-then-conv exactly, at 1/16 of the cost.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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
        depth: torch.Tensor = BinsReadout.apply(logits, self.bins)  # (B, 4h, 4w) metres
        return depth


BINS_EPS = 0.1  # DINOv2's "linear" normalisation: p = (relu(logit) + 0.1) / sum


class BinsReadout(torch.autograd.Function):
    """depth = sum_k p_k c_k, p = (relu(u) + 0.1) / sum_j (relu(u_j) + 0.1), over logits u (B, K, H, W) and bin
    centres c (K,): DINOv2's readout, with a hand-written backward.

    The formula is DINOv2's (relu, + eps, normalise, einsum with the bins); written out, its gradient is
    d depth / d u_k = [u_k > 0] (c_k - depth) / sum_j (relu(u_j) + eps), so the backward is one outer
    product and relu's mask over the (B, K, H, W) logits instead of autograd's chain through five
    full-size intermediates (2.3x faster training steps, 2.5x faster evaluation on CPU at the quickstart's
    sizes). Forward: both sums in one matrix product. Equal to the autograd formula to float64 rounding
    (tests/probes/test_heads.py).
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, logits: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
        B, K, H, W = logits.shape
        shifted = logits.clamp_min(0).add_(BINS_EPS).view(B, K, H * W)  # relu(u) + eps
        weights = torch.stack([bins, torch.ones_like(bins)]).to(logits.dtype)  # (2, K): sum_k r_k c_k, sum_k r_k
        sums = torch.matmul(weights, shifted)  # (B, 2, HW)
        total = sums[:, 1]  # (B, HW)
        depth = sums[:, 0] / total  # (B, HW)
        ctx.save_for_backward(logits, bins, depth, total)
        return depth.view(B, H, W)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        logits, bins, depth, total = ctx.saved_tensors  # type: ignore[attr-defined]
        B, K, H, W = logits.shape
        scale = grad.reshape(B, 1, H * W) / total.unsqueeze(1)  # (B, 1, HW)
        through_p = (bins.to(depth.dtype).view(1, K, 1) - depth.unsqueeze(1)).mul_(scale)  # (B, K, HW): (c_k - d) / sum
        # relu's own backward kernel: zero where u <= 0 (as torch.relu's gradient)
        return torch.ops.aten.threshold_backward(through_p.view(B, K, H, W), logits, 0), None


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


def parameter_count(module: nn.Module) -> int:
    """Trainable parameters of a head (buffers such as BatchNorm statistics are not parameters)."""
    return sum(p.numel() for p in module.parameters())


# DPT's reassemble widths as fractions of the fusion width: 96, 192, 384, 768 at 256 features (ViT-B/L in
# Ranftl et al. 2021; facebookresearch/dinov2 dpt_head.py `post_process_channels`).
DPT_REASSEMBLE = (3 / 8, 3 / 4, 3 / 2, 3.0)


def dpt_widths(features: int) -> tuple[int, ...]:
    """The 4 reassemble widths for a fusion width `features` (at least 1 channel each)."""
    return tuple(max(1, round(features * fraction)) for fraction in DPT_REASSEMBLE)


class ResidualConvUnit(nn.Module):
    """DPT's pre-activation residual unit as mmsegmentation's (norm_cfg BN): x + BN(conv(relu(BN(conv(relu(x))))))."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(features)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.bn1(self.conv1(torch.relu(x)))  # (B, F, h, w)
        out = self.bn2(self.conv2(torch.relu(out)))  # (B, F, h, w)
        return x + out


class FusionBlock(nn.Module):
    """One fusion step: add the (residual-unit) skip, refine, resample to the next finer size, 1x1 project."""

    def __init__(self, features: int, with_skip: bool):
        super().__init__()
        self.skip = ResidualConvUnit(features) if with_skip else None
        self.refine = ResidualConvUnit(features)
        self.project = nn.Conv2d(features, features, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None, size: tuple[int, int] | None) -> torch.Tensor:
        if self.skip is not None and skip is not None:
            x = x + self.skip(skip)  # (B, F, h, w): the skip is on x's grid
        x = self.refine(x)
        if size is not None:  # bilinear, align_corners=True as DINOv2's fusion upsampling
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)  # (B, F, H, W)
        out: torch.Tensor = self.project(x)
        return out


class DPTDecoder(nn.Module):
    """DPT's decoder over 4 layers' patch grids of one ViT (Ranftl et al. 2021, as in DINOv2's DPTHead).

    Input (B, L*D [+ L*D], h, w): the 4 layers' grids concatenated on channels, then (with `with_cls`) their
    CLS tokens spread over the grid, as the dense tasks build their head input. Per layer: the CLS readout
    ('project': 1x1 conv of [patch, CLS] + GELU; 'ignore' without CLS), a 1x1 projection to its reassemble
    width, resampling to 4x (4x4 stride-4 transposed conv), 2x (2x2 stride-2 transposed conv), 1x (identity)
    and 1/2 (3x3 stride-2 conv) of the grid, a 3x3 conv to `features` channels. Fusion runs coarse to fine
    (residual conv units, bilinear upsampling onto the next layer's grid), then a 3x3 conv + BN + ReLU.
    Output (B, features, 4h, 4w): the fused map stops at the shallowest layer's 4x grid (DINOv2 upsamples once
    more, to 8x: probekit keeps to 4x, the linear depth head's resolution, for memory).
    """

    def __init__(self, embed_dim: int, features: int = 256, with_cls: bool = False, n_layers: int = 4):
        super().__init__()
        if n_layers != 4:
            raise ValueError(f"the DPT decoder reassembles 4 layers, not {n_layers}")
        self.embed_dim, self.with_cls, self.features = embed_dim, with_cls, features
        widths = dpt_widths(features)
        self.readouts = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(2 * embed_dim, embed_dim, 1), nn.GELU()) for _ in widths] if with_cls else []
        )
        self.projects = nn.ModuleList([nn.Conv2d(embed_dim, width, 1) for width in widths])
        self.resamples = nn.ModuleList(
            [
                nn.ConvTranspose2d(widths[0], widths[0], kernel_size=4, stride=4),  # 4x
                nn.ConvTranspose2d(widths[1], widths[1], kernel_size=2, stride=2),  # 2x
                nn.Identity(),  # 1x
                nn.Conv2d(widths[3], widths[3], kernel_size=3, stride=2, padding=1),  # 1/2
            ]
        )
        self.convs = nn.ModuleList([nn.Conv2d(width, features, 3, padding=1, bias=False) for width in widths])
        self.fusions = nn.ModuleList([FusionBlock(features, with_skip=i > 0) for i in range(len(widths))])
        self.head = nn.Sequential(nn.Conv2d(features, features, 3, padding=1, bias=False), nn.BatchNorm2d(features))

    def reassemble(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The 4 layers' maps at 4x, 2x, 1x and 1/2 of the grid, `features` channels each (shallow first)."""
        d = self.embed_dim
        maps = []
        for i in range(len(self.projects)):
            layer = x[:, i * d : (i + 1) * d]  # (B, D, h, w)
            if self.with_cls:
                cls = x[:, (4 + i) * d : (5 + i) * d]  # (B, D, h, w): the CLS token on every patch
                layer = self.readouts[i](torch.cat([layer, cls], dim=1))  # (B, D, h, w)
            maps.append(self.convs[i](self.resamples[i](self.projects[i](layer))))  # (B, F, s*h, s*w)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = self.embed_dim * 4 * (2 if self.with_cls else 1)
        if x.shape[1] != expected:
            raise ValueError(f"the DPT decoder takes {expected} input channels, not {x.shape[1]}")
        maps = self.reassemble(x)  # shallow (4x) .. deep (1/2)
        out = self.fusions[0](maps[3], None, _hw(maps[2]))  # (B, F, h, w)
        out = self.fusions[1](out, maps[2], _hw(maps[1]))  # (B, F, 2h, 2w)
        out = self.fusions[2](out, maps[1], _hw(maps[0]))  # (B, F, 4h, 4w)
        out = self.fusions[3](out, maps[0], None)  # (B, F, 4h, 4w)
        return torch.relu(self.head(out))  # (B, F, 4h, 4w)


def _hw(x: torch.Tensor) -> tuple[int, int]:
    return int(x.shape[-2]), int(x.shape[-1])
