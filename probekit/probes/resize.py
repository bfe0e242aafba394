"""Bilinear resizing as two small matrix products: identical to F.interpolate(mode="bilinear",
align_corners=False), several times faster on CPU for the many-channel maps the heads upsample.

Bilinear interpolation is separable: each output row mixes two input rows with fixed weights, and the
same for columns. So resize(X) = A_h @ X @ A_w^T with A_h (H_out, H_in) and A_w (W_out, W_in), the
matrices obtained by interpolating the identity in 1-D.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F


@lru_cache(maxsize=64)
def _interpolation_matrix(size_in: int, size_out: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    eye = torch.eye(size_in, dtype=torch.float64)[None]  # (1, n_in, n_in)
    matrix = F.interpolate(eye, size=size_out, mode="linear", align_corners=False)[0].T  # (n_out, n_in)
    return matrix.to(device=device, dtype=dtype)


def resize_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(..., h, w) -> (..., H, W), as F.interpolate(x, size, mode='bilinear', align_corners=False)."""
    h, w = x.shape[-2:]
    H, W = int(size[0]), int(size[1])
    if (h, w) == (H, W):
        return x
    rows = _interpolation_matrix(h, H, x.device, x.dtype)  # (H, h)
    cols = _interpolation_matrix(w, W, x.device, x.dtype)  # (W, w)
    return torch.matmul(torch.matmul(rows, x), cols.T)  # (..., H, w) -> (..., H, W)
