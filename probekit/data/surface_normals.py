"""Surface-normal targets: how they are stored, and how they are derived from depth when a dataset has none.

Normals are unit vectors in the OpenCV camera frame (x right, y down, z forward) facing the camera
(n . p < 0 for the surface point p), stored per pixel as (H, W, 3) float16: measured on synthetic scenes the
direction moves by at most 0.036 degrees (int8 per component: 0.38), the length by up to ~5e-4, so readers
normalise; with gzip + shuffle a synthetic map takes ~23x less than raw float32 (int8: ~44x; docs/store.md).
(0, 0, 0) marks a pixel without a normal (sky, depth holes, discontinuities): a normal is valid where
its length is above 0.5.

Derived normals (`normals_from_depth`): every pixel is back-projected with the intrinsics,
P = z K^-1 (x, y, 1) at its centre (x, y) = (j + 0.5, i + 0.5); the normal is the normalised cross
product of the central differences dv x du with du = P[i, j+1] - P[i, j-1], dv = P[i+1, j] - P[i-1, j]
(this order faces the camera). A pixel is valid when it and its four neighbours have depth > 0 and
finite, and no neighbour's depth differs from its own by more than `max_jump` (relative): a depth
discontinuity (an occluding edge) has no surface normal. Image borders are invalid.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from probekit.data.base import TargetSpec

FRAME = "OpenCV camera (x right, y down, z forward), unit vectors facing the camera"
FILE_FRAME = "as given by the ground-truth file (not re-oriented by probekit)"
DTYPE = "float16"
MAX_JUMP = 0.1  # relative depth difference to a neighbour above which a pixel sits on a discontinuity
DERIVED = "derived from depth and intrinsics: central-difference cross product (probekit/data/surface_normals.py)"


def normals_target(shape_hw: tuple[int, int], source: str, **attrs: Any) -> TargetSpec:
    """The `normals` target spec of a (H, W) frame; `source` says where the normals come from."""
    return TargetSpec(
        (int(shape_hw[0]), int(shape_hw[1]), 3),
        DTYPE,
        {"frame": FRAME, "invalid_value": [0.0, 0.0, 0.0], "source": source, **attrs},
    )


def valid_normals(normals: np.ndarray) -> np.ndarray:
    """(..., 3) normals -> (...) bool: the pixels that have one (length above 0.5; invalid ones are 0)."""
    n = np.asarray(normals, dtype=np.float32)
    valid: np.ndarray = (n * n).sum(-1) > 0.25
    return valid


def normals_from_depth(depth: np.ndarray, K: np.ndarray, max_jump: float = MAX_JUMP) -> np.ndarray:
    """(H, W) z-depth in metres (0 = invalid) and (3, 3) intrinsics -> (H, W, 3) float32 unit normals in the
    camera frame, (0, 0, 0) where the module docstring's validity test fails."""
    z = np.asarray(depth, dtype=np.float64)
    h, w = z.shape
    k_inv = np.linalg.inv(np.asarray(K, dtype=np.float64))
    x = np.arange(w) + 0.5
    y = np.arange(h) + 0.5
    rays = np.stack(np.broadcast_arrays(x[None, :], y[:, None], np.ones((1, 1))), axis=-1) @ k_inv.T  # (H, W, 3)
    points = rays * z[..., None]  # (H, W, 3)
    du = points[1:-1, 2:] - points[1:-1, :-2]  # (H-2, W-2, 3)
    dv = points[2:, 1:-1] - points[:-2, 1:-1]
    n = np.cross(dv, du)
    length = np.linalg.norm(n, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = n / length
    centre = z[1:-1, 1:-1]
    ok = np.isfinite(centre) & (centre > 0) & (length[..., 0] > 0)
    for neighbour in (z[1:-1, 2:], z[1:-1, :-2], z[2:, 1:-1], z[:-2, 1:-1]):
        with np.errstate(invalid="ignore"):
            ok &= np.isfinite(neighbour) & (neighbour > 0) & (np.abs(neighbour - centre) <= max_jump * centre)
    out = np.zeros((h, w, 3), dtype=np.float32)
    out[1:-1, 1:-1] = np.where(ok[..., None], n, 0.0)
    return out
