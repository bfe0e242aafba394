"""What the real depth datasets store: metric depth at the original resolution plus the standard evaluation box.

`depth` (h, w) float32 metres, 0 = invalid, is the original depth map cut to the image's crop window
(probekit/data/crop_window.py). `eval_crop` (4,) int32 is the standard evaluation region of that
sample (NYU: Eigen crop; KITTI: Garg crop), given in the original frame by the protocol and mapped
into stored depth pixels as [top, bottom, left, right) — per sample because KITTI frames differ in
size, so the Garg box moves by a few pixels between drives. The depth task's `--crop eigen|garg`
applies the same crops as fractions of the stored shape: identical to `eval_crop` when the window is
the whole original frame (NYU at a 3:4 size such as 336x448), close otherwise.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from probekit.data.base import TargetSpec
from probekit.data.crop_window import Window
from probekit.errors import DatasetError

MIN_DEPTH = 1e-3
# The toolbox's boxes in the original frame (probekit/metrics/depth.py holds the same numbers as fractions).
EIGEN_BOX_480x640 = (45, 471, 41, 601)  # NYU rows 45:471, cols 41:601
GARG_FRACTIONS = (0.40810811, 0.99189189, 0.03594771, 0.96405229)  # KITTI, of the raw frame's H, H, W, W


def check_split(dataset: str, split: str, splits: Collection[str], note: str = "") -> None:
    """Raise unless `split` is one of `splits`; depth datasets have no val split (`probekit probe` holds one out)."""
    if split not in splits:
        raise DatasetError(
            f"{dataset} has splits {', '.join(splits)} ({note}no val: probekit probe holds out every "
            f"10th training sample), not {split!r}"
        )


def garg_box(height: int, width: int) -> tuple[int, int, int, int]:
    """Garg crop of a raw KITTI frame as the toolbox and Monodepth2 compute it (int() of the fractions)."""
    top, bottom, left, right = GARG_FRACTIONS
    return int(top * height), int(bottom * height), int(left * width), int(right * width)


def depth_targets(
    window: Window, size_hw: tuple[int, int], max_depth: float, crop: str, **attrs: Any
) -> dict[str, TargetSpec]:
    """Target specs of a depth dataset whose samples share one crop window."""
    return {
        "depth": TargetSpec(
            window.shape,
            "float32",
            {
                "unit": "m",
                "invalid_value": 0.0,
                "kind": "z-depth",
                "min_depth": MIN_DEPTH,
                "max_depth": max_depth,
                "crop": crop,
                "resolution": "original pixels of the image's crop window",
                "window": window.as_list(),
                "window_convention": "[top, left, height, width] in the original frame",
                "pixel_map": window.pixel_map(size_hw).as_array().tolist(),
                "pixel_map_convention": "image_xy = original_xy * (sx, sy) + (ox, oy)",
                **attrs,
            },
        ),
        "eval_crop": TargetSpec(
            (4,),
            "int32",
            {
                "crop": crop,
                "convention": "[top, bottom, left, right): rows top:bottom, cols left:right of the stored depth",
            },
        ),
    }
