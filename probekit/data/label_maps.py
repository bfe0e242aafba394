"""Images paired with label-map PNGs as a segmentation dataset: what ADE20K, VOC and Cityscapes share.

Each adapter lists its (image, label) files and says how raw label values become the probe's class ids
(a `LabelTable`); this module reads, checks, maps and fits them. Resizing keeps the aspect ratio
(docs/concepts.md): `crop` (default) scales the shorter side to the extraction size and centre-crops,
`pad` scales the longer side and pads, the mask with the ignore index. Masks are resized with nearest
neighbour, so every stored value is one of the written class ids or the ignore index. The mask is also
kept at its original resolution with the image's pixel map (`originals`), where segmentation is scored
by default, as mmsegmentation scores it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from probekit.data.base import TargetSpec
from probekit.data.geometry import FIT_MODES, fit_image, fit_mask, size_hw
from probekit.data.image_files import load_image, read_rgb
from probekit.data.layout import raise_missing  # noqa: F401 (kept importable from here)
from probekit.errors import DatasetError
from probekit.provenance import short_hash

# Default fit for segmentation. Pick another per dataset object (`ADE20K(..., fit="pad")`, then
# `extract(config, out, dataset=...)`), or for every `open_dataset` call by setting this before it.
FIT_MODE = "crop"
IGNORE_INDEX = 255
RESIZE_POLICY = {
    "crop": "shorter side to the extraction size (area/bicubic), centre crop; mask nearest",
    "pad": "longer side to the extraction size (area/bicubic), centred, padded with 0 / ignore; mask nearest",
}


@dataclass(frozen=True)
class LabelTable:
    """Raw label value (0..255) -> class id (0..K-1, or the ignore index); -1 marks a value the data must not have."""

    values: np.ndarray  # (256,) int16
    source: str  # what the raw files hold, recorded in the store
    expected: str  # the raw values allowed, for the error message

    @classmethod
    def from_mapping(cls, mapping: Mapping[int, int], source: str, expected: str) -> LabelTable:
        values = np.full(256, -1, dtype=np.int16)
        for raw, class_id in mapping.items():
            if not (0 <= raw <= 255 and -1 <= class_id <= 255):
                raise DatasetError(
                    f"label table for {source}: raw value {raw} -> class {class_id}; raw values "
                    "are 0..255 and class ids 0..255 (uint8 masks), -1 for a forbidden value"
                )
            values[raw] = class_id
        return cls(values, source, expected)

    @classmethod
    def identity(cls, num_classes: int, source: str) -> LabelTable:
        """Values 0..K-1 are the class ids and 255 is ignored (VOC, Cityscapes labelTrainIds)."""
        mapping = {k: k for k in range(num_classes)} | {IGNORE_INDEX: IGNORE_INDEX}
        return cls.from_mapping(mapping, source, f"0..{num_classes - 1} and {IGNORE_INDEX}")

    def apply(self, raw: np.ndarray, path: Path, dataset: str) -> np.ndarray:
        """(H, W) raw values -> (H, W) uint8 class ids; an unexpected value is an error naming the file."""
        if raw.dtype.kind not in "ui" or (raw.size and (int(raw.min()) < 0 or int(raw.max()) > 255)):
            span = f" in [{raw.min()}, {raw.max()}]" if raw.size else ""
            raise DatasetError(
                f"{dataset}: {path} holds {raw.dtype} label values{span}, expected 8-bit class "
                f"indices {self.expected} ({self.source}); is this the right annotation file?"
            )
        mapped = self.values[raw]
        if (mapped < 0).any():
            bad = np.unique(raw[mapped < 0])[:5].tolist()
            raise DatasetError(
                f"{dataset}: {path} holds label values {bad}, expected {self.expected} "
                f"({self.source}); is this the right annotation file?"
            )
        labels: np.ndarray = mapped.astype(np.uint8)  # (H, W)
        return labels


@dataclass(frozen=True)
class LabelledImage:
    """One sample: its id, image file, label file and the key of the LabelTable that reads the label."""

    id: str
    image: Path
    label: Path
    table: str = "default"


def read_image(path: Path, dataset: str) -> np.ndarray:
    """uint8 (H, W, 3) RGB. EXIF orientation is ignored: labels are drawn on the pixels as stored."""
    return read_rgb(path, dataset)


def read_label(path: Path, dataset: str) -> np.ndarray:
    """uint8 (H, W) class indices of a palette (P) or greyscale (L) PNG.

    Pillow keeps a palette PNG's indices (VOC's SegmentationClass) where OpenCV would give its colours.
    """
    label = load_image(path, "label", "re-extract the archive", dataset)
    if label.mode not in ("P", "L"):
        raise DatasetError(
            f"{dataset}: {path} is a {label.mode} image; labels must be palette or "
            "greyscale PNGs of class indices (colour-coded masks are not labels)"
        )
    return np.array(label)


class LabelMapDataset:
    """`LabelledImage`s fitted to the extraction size: {"id", "image" (H, W, 3) uint8, "mask" (H, W) uint8}."""

    def __init__(
        self,
        name: str,
        split: str,
        root: Path,
        items: Sequence[LabelledImage],
        image_size: tuple[int, int],
        tables: Mapping[str, LabelTable],
        mask_attrs: Mapping[str, Any],
        fit: str | None = None,
    ):
        fit = fit or FIT_MODE
        if fit not in ("crop", "pad"):
            raise DatasetError(
                f"{name}: segmentation keeps the aspect ratio: fit must be crop or pad, not {fit!r}"
                if fit in FIT_MODES
                else f"{name}: unknown fit {fit!r}: use crop or pad"
            )
        self.name, self.split, self.root = name, split, root
        self.items = list(items)
        self.image_size = size_hw(image_size)
        self.tables = dict(tables)
        self.fit = fit
        self.ignore_index = int(mask_attrs.get("ignore_index", IGNORE_INDEX))
        H, W = self.image_size
        self.targets = {"mask": TargetSpec((H, W), "uint8", dict(mask_attrs, resize=RESIZE_POLICY[fit]))}
        self.originals = ("mask",)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.items[index]
        image = read_image(item.image, self.name)  # (H0, W0, 3)
        raw = read_label(item.label, self.name)  # (H0, W0)
        if raw.shape != image.shape[:2]:
            raise DatasetError(
                f"{self.name}: {item.label} is {raw.shape[1]}x{raw.shape[0]} but its image "
                f"{item.image} is {image.shape[1]}x{image.shape[0]}; re-extract the annotations"
            )
        mask = self.tables[item.table].apply(raw, item.label, self.name)  # (H0, W0) class ids
        original = {"shape": mask.shape, "mask": mask}  # (H0, W0) class ids, as mmseg scores them
        image, pixel_map = fit_image(image, self.image_size, self.fit)  # (H, W, 3)
        fitted, _ = fit_mask(mask, self.image_size, self.fit, self.ignore_index)  # (H, W)
        return {
            "id": item.id,
            "image": image,
            "mask": fitted,
            "original": {**original, "pixel_map": pixel_map.as_array()},
        }

    def label_sources(self) -> list[str]:
        """What the label files used hold (e.g. Cityscapes labelTrainIds, or labelIds mapped to trainIds)."""
        return sorted({self.tables[item.table].source for item in self.items})

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "split": self.split,
            "root": str(self.root),
            "fit": self.fit,
            "resize": RESIZE_POLICY[self.fit],
            "label_sources": self.label_sources(),
        }

    def fingerprint(self) -> str:
        """Ids and file sizes (not the root path, so a moved copy of the same files matches)."""
        files = [(item.id, item.image.stat().st_size, item.label.stat().st_size) for item in self.items]
        return short_hash(self.name, self.split, self.fit, self.label_sources(), files)
