"""Test-time views for DINOv2's "+ms": the same split extracted at other scales and mirrored, one store each.

`probekit extract --scales 0.5,0.75,1,1.25,1.5,1.75 --flip --out val.h5` writes the base store `val.h5`
(scale 1, not flipped: an ordinary store) and beside it one view store per other (scale, flip):

    val.s0.5.h5, val.s0.5-flip.h5, ..., val.s1-flip.h5, ..., val.s1.75-flip.h5

A view store is extracted at the image size times the scale, rounded to a multiple of the patch size
(each side on its own), with the dataset fitting its images from the originals at that size (as
mmsegmentation's multi-scale test resizes the original image). Flipped views mirror the image left-right.
View stores hold the features, the ids and the pixel maps of the originals (flipped ones mirrored:
sx -> -sx, ox -> W - ox), so predictions go back to the original frame through them and the flip is
undone there; they hold no targets (the base store has them). Their attrs record `tta_scale`,
`tta_flip` and `tta_base` (the base store's file name).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from probekit.data.base import ImageDataset, TargetSpec
from probekit.errors import ProbekitError
from probekit.provenance import short_hash

DINOV2_MS_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)  # dinov2/eval/segmentation configs (+ms: img_ratios)


def tta_path(base: str | Path, scale: float, flip: bool) -> Path:
    """The view store of (scale, flip) beside `base`; the base itself for scale 1 unflipped."""
    base = Path(base)
    if scale == 1 and not flip:
        return base
    return base.with_name(f"{base.stem}.s{scale:g}{'-flip' if flip else ''}{base.suffix}")


def tta_views(scales: Sequence[float], flip: bool) -> list[tuple[float, bool]]:
    """Every (scale, flip) of the protocol, scale 1 unflipped (the base) first."""
    views = [(float(s), f) for s in scales for f in ((False, True) if flip else (False,))]
    return sorted(views, key=lambda v: (v != (1.0, False), v))


def scaled_size(image_size: tuple[int, int], scale: float, patch_size: int) -> tuple[int, int]:
    """Each side times `scale`, rounded to a multiple of the patch size (at least one patch)."""
    return tuple(max(patch_size, round(side * scale / patch_size) * patch_size) for side in image_size)  # type: ignore[return-value]


def check_scales(scales: Sequence[float]) -> None:
    """Scales are positive and include 1 (the base store the probe trains on)."""
    if any(not s > 0 for s in scales) or 1.0 not in [float(s) for s in scales]:
        raise ProbekitError(f"--scales {','.join(f'{s:g}' for s in scales)}: give positive scales that include 1")


class FlippedView:
    """A dataset opened at a view's size with the image mirrored left-right (when `flip`), targets dropped.

    Samples keep the id and the original frame ({"shape", "pixel_map"}, the map mirrored with the image),
    so the view's predictions can be carried back to the base store's originals.
    """

    def __init__(self, dataset: ImageDataset, image_size: tuple[int, int], flip: bool, scale: float, base: str):
        if getattr(dataset, "originals", None) is None:
            raise ProbekitError(
                f"{dataset.name} keeps no original frame (pixel maps), so its views cannot be aligned: "
                f"--scales/--flip need a segmentation or depth dataset"
            )
        self.dataset, self.flip, self.scale, self.base = dataset, flip, scale, base
        self.width = image_size[1]
        self.name, self.split = dataset.name, dataset.split
        self.targets: dict[str, TargetSpec] = {}
        self.originals: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.dataset[index]
        original = sample["original"]
        sx, sy, ox, oy = (float(v) for v in original["pixel_map"])
        if self.flip:
            sx, ox = -sx, self.width - ox  # stored x -> W - x
        image = sample["image"][:, ::-1] if self.flip else sample["image"]
        return {
            "id": sample["id"],
            "image": np.ascontiguousarray(image),
            "original": {"shape": original["shape"], "pixel_map": np.array([sx, sy, ox, oy], dtype=np.float32)},
        }

    def describe(self) -> dict[str, Any]:
        return {**self.dataset.describe(), "tta_scale": self.scale, "tta_flip": self.flip, "tta_base": self.base}

    def fingerprint(self) -> str:
        return short_hash(self.dataset.fingerprint(), self.scale, self.flip)
