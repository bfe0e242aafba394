"""DINO's multi-crop augmentation as batched torch ops, so it runs on the GPU (and is cheap on CPU).

Per image: two global crops and `local_crops` local crops, each a random resized crop (area share
from `global_scale` / `local_scale`, aspect ratio in [3/4, 4/3]) with a random horizontal flip, then
colour jitter (p=0.8: brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1), grayscale (p=0.2) and
Gaussian blur; global crop 1 is always blurred, global crop 2 is blurred with p=0.1 and solarised
with p=0.2, local crops are blurred with p=0.5 (DINO's DataAugmentationDINO). Differences, all for
batching: the crop box is clamped into the image instead of re-sampled (torchvision retries 10
times), the jitter order is fixed (brightness, contrast, saturation, hue), hue is a rotation in YIQ
space, and the blur sigma range (0.1, 2.0) px of DINO's 224/96-px crops is scaled to our crop sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as torchvision's rgb_to_grayscale
_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))
_FROM_YIQ = tuple(map(tuple, torch.linalg.inv(torch.tensor(_TO_YIQ, dtype=torch.float64)).tolist()))


@dataclass(frozen=True)
class MultiCropConfig:
    global_size: int
    local_size: int
    local_crops: int
    global_scale: tuple[float, float] = (0.32, 1.0)
    local_scale: tuple[float, float] = (0.05, 0.32)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    interpolation: str = "bicubic"


def random_resized_crop(
    images: torch.Tensor,
    size: int,
    scale: tuple[float, float],
    generator: torch.Generator | None = None,
    mode: str = "bicubic",
) -> torch.Tensor:
    """(B, 3, H, W) floats in [0, 1] -> (B, 3, size, size): one random box and flip per image."""
    B, _, H, W = images.shape
    dev = images.device
    area = _uniform(B, scale[0], scale[1], dev, generator)
    log_ratio = _uniform(B, math.log(3 / 4), math.log(4 / 3), dev, generator)
    ratio = torch.exp(log_ratio) * (W / H)  # box w/h in pixels is `exp(log_ratio)`; here in [0, 1] units
    w = torch.sqrt(area * ratio).clamp(max=1.0)  # box width as a fraction of W
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (torch.rand(B, device=dev, generator=generator) * (1 - w) + w / 2) * 2 - 1  # box centre in [-1, 1] units
    cy = (torch.rand(B, device=dev, generator=generator) * (1 - h) + h / 2) * 2 - 1
    flip = torch.where(torch.rand(B, device=dev, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(B, 2, 3, device=images.device)
    theta[:, 0, 0] = w * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = h
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, [B, 3, size, size], align_corners=False)  # (B, size, size, 2)
    out = F.grid_sample(images, grid, mode=mode, padding_mode="border", align_corners=False)
    return out.clamp_(0, 1)


def _uniform(n: int, low: float, high: float, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    """(n,) uniform samples in [low, high) from `generator`."""
    return torch.rand(n, device=device, generator=generator) * (high - low) + low


def _gray(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luma."""
    luma = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * luma).sum(1, keepdim=True)


def _where(apply: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    return torch.where(apply.view(-1, 1, 1, 1), new, old)


def _rotate_hue(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate each image's chroma by `turns` (B,) of a full circle in YIQ space."""
    to_yiq, from_yiq = x.new_tensor(_TO_YIQ), x.new_tensor(_FROM_YIQ)
    angle = 2 * math.pi * turns
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.zeros(x.shape[0], 3, 3, device=x.device, dtype=x.dtype)  # (B, 3, 3)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    matrix = from_yiq @ rot @ to_yiq  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", matrix, x)


def colour_jitter(
    x: torch.Tensor,
    p: float = 0.8,
    generator: torch.Generator | None = None,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.2,
    hue: float = 0.1,
    grayscale_p: float = 0.2,
) -> torch.Tensor:
    """DINO's RandomApply(ColorJitter, p) then RandomGrayscale, batched: (B, 3, H, W) in [0, 1]."""
    B = x.shape[0]
    dev = x.device

    def factor(amount: float) -> torch.Tensor:
        return _uniform(B, 1 - amount, 1 + amount, dev, generator).view(B, 1, 1, 1)

    apply = torch.rand(B, device=dev, generator=generator) < p
    y = (x * factor(brightness)).clamp(0, 1)
    mean = _gray(y).mean(dim=(2, 3), keepdim=True)  # (B, 1, 1, 1)
    y = ((y - mean) * factor(contrast) + mean).clamp(0, 1)
    gray = _gray(y)
    y = ((y - gray) * factor(saturation) + gray).clamp(0, 1)
    y = _rotate_hue(y, _uniform(B, -hue, hue, dev, generator)).clamp(0, 1)
    x = _where(apply, y, x)
    return _where(torch.rand(B, device=dev, generator=generator) < grayscale_p, _gray(x).expand_as(x), x)


def gaussian_blur(
    x: torch.Tensor, p: float, sigma: tuple[float, float], generator: torch.Generator | None = None
) -> torch.Tensor:
    """Blur each image with probability p by a Gaussian of sigma ~ U(sigma): separable, per-image kernels."""
    B, C, H, W = x.shape
    if p <= 0:
        return x
    apply = torch.rand(B, device=x.device, generator=generator) < p
    s = _uniform(B, sigma[0], sigma[1], x.device, generator)  # (B,)
    radius = max(1, min(math.ceil(3 * sigma[1]), (min(H, W) - 1) // 2))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)  # (k,)
    kernel = torch.exp(-0.5 * (t[None] / s[:, None]) ** 2)
    kernel = kernel / kernel.sum(1, keepdim=True)  # (B, k)
    kernel = kernel.repeat_interleave(C, dim=0)  # (B*C, k): one kernel per channel of each image
    y = F.pad(x.reshape(1, B * C, H, W), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, kernel.view(B * C, 1, 1, -1), groups=B * C)  # along W
    y = F.conv2d(y, kernel.view(B * C, 1, -1, 1), groups=B * C)  # along H
    return _where(apply, y.view(B, C, H, W), x)


def solarize(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Invert pixels >= 0.5 (torchvision's threshold 128 of 255) with probability p per image."""
    apply = torch.rand(x.shape[0], device=x.device, generator=generator) < p
    return _where(apply, torch.where(x >= 0.5, 1 - x, x), x)


def multi_crop(
    images: torch.Tensor, config: MultiCropConfig, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (B, H, W, 3) -> normalised global crops (2B, 3, G, G) and local crops (L*B, 3, l, l).

    Crops are stacked view-major like DINOv2's collate: rows [0, B) are view 0 of every image,
    rows [B, 2B) view 1, and so on.
    """
    x = images.permute(0, 3, 1, 2).float().div_(255)  # (B, 3, H, W)
    g_blur = (0.1 * config.global_size / 224, 2.0 * config.global_size / 224)
    l_blur = (0.1 * config.local_size / 96, 2.0 * config.local_size / 96)
    gen, mode = generator, config.interpolation
    g1 = colour_jitter(random_resized_crop(x, config.global_size, config.global_scale, gen, mode), generator=gen)
    g1 = gaussian_blur(g1, 1.0, g_blur, generator=gen)
    g2 = colour_jitter(random_resized_crop(x, config.global_size, config.global_scale, gen, mode), generator=gen)
    g2 = solarize(gaussian_blur(g2, 0.1, g_blur, generator=gen), 0.2, generator=gen)
    global_crops = _normalise(torch.cat([g1, g2]), config)
    if config.local_crops == 0:
        return global_crops, x.new_zeros(0, 3, config.local_size, config.local_size)
    repeated = x.repeat(config.local_crops, 1, 1, 1)  # (L*B, 3, H, W), view-major
    local = colour_jitter(
        random_resized_crop(repeated, config.local_size, config.local_scale, gen, mode), generator=gen
    )
    local = gaussian_blur(local, 0.5, l_blur, generator=gen)
    return global_crops, _normalise(local, config)


def _normalise(x: torch.Tensor, config: MultiCropConfig) -> torch.Tensor:
    mean = x.new_tensor(config.mean).view(1, 3, 1, 1)
    std = x.new_tensor(config.std).view(1, 3, 1, 1)
    return (x - mean) / std
