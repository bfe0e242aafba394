"""What the correspondence adapters read from disk share: one split's images, fitted, with their pair table.

Subclasses set `name`, `splits` and `split_aliases`, call `_set_options` before reading anything, then
set `root`, `image_dir` (the folder `images` are relative to), `images` and `pair_table` (a PairTable).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from probekit.data.base import TargetSpec
from probekit.data.geometry import fit_image
from probekit.data.image_files import read_rgb
from probekit.data.pairs import PairTable
from probekit.data.registry import DatasetEntry, register_dataset
from probekit.errors import DatasetError
from probekit.provenance import short_hash

FIT_MODES = ("stretch", "pad")  # crop is refused: a centre crop cuts away keypoints near the image borders


class PairImages:
    """Images of one split of a correspondence dataset, fitted to `image_size` by `fit`."""

    name: str
    splits: tuple[str, ...]
    split_aliases: dict[str, str]
    limit_unit = "pairs"  # --limit N keeps N pairs and their images (probekit.data.base.SubsetDataset)
    root: Path
    image_dir: Path
    images: list[str]
    pair_table: PairTable  # the correspondence protocol attribute (probekit.data.base.CorrespondenceDataset)

    def _set_options(self, split: str, image_size: tuple[int, int], fit: str) -> None:
        """Check the split (aliases resolved) and the fit; set `split`, `image_size`, `fit` and `targets`."""
        self.split = self.split_aliases.get(split, split)
        if self.split not in self.splits:
            aliases = ", ".join(f"{alias} = {target}" for alias, target in self.split_aliases.items())
            raise DatasetError(f"{self.name} has splits {', '.join(self.splits)} ({aliases}), not {split!r}")
        if fit not in FIT_MODES:
            raise DatasetError(
                f"{self.name}: fit {fit!r} is not one of {', '.join(FIT_MODES)} (crop would cut keypoints away)"
            )
        self.image_size, self.fit = (int(image_size[0]), int(image_size[1])), fit
        self.targets = {
            "pixel_map": TargetSpec(
                (4,), "float32", {"convention": "stored_xy = xy * (sx, sy) + (ox, oy)", "fit": fit}
            ),
            "original_size": TargetSpec((2,), "int64", {"convention": "original image (height, width) in pixels"}),
        }

    def __len__(self) -> int:
        return len(self.images)

    def read_image(self, index: int) -> np.ndarray:
        """Image `index` as stored on disk, uint8 (H0, W0, 3)."""
        return read_rgb(self.image_dir / self.images[index])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"image {index} out of range for {len(self)} {self.name} {self.split} images")
        image = self.read_image(index)
        fitted, pixel_map = fit_image(image, self.image_size, self.fit)
        return {
            "id": self.images[index].rsplit(".", 1)[0],
            "image": fitted,
            "pixel_map": pixel_map.as_array(),
            "original_size": np.array(image.shape[:2], dtype=np.int64),
        }

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "split": self.split,
            "root": str(self.root),
            "fit": self.fit,
            "pair_list": self.pair_table.attrs["pair_list"],
            "num_pairs": len(self.pair_table),
        }

    def fingerprint_contents(self) -> tuple[Any, ...]:
        """What besides describe() identifies the stored samples."""
        return self.images, self.pair_table.digest()

    def fingerprint(self) -> str:
        described = {k: v for k, v in self.describe().items() if k != "root"}  # moving the tree keeps the stores
        return short_hash(described, *self.fingerprint_contents())


def require_images(folder: Path, images: Sequence[str], listed_by: str, dataset: str, readme: str) -> None:
    """Raise naming the first of `images` missing from `folder` (and how many more) and what lists it."""
    absent = [image for image in images if not (folder / image).is_file()]
    if absent:
        more = f" (and {len(absent) - 1} more)" if len(absent) > 1 else ""
        raise DatasetError(
            f"{dataset}: image {folder / absent[0]} {listed_by} is missing{more}; expected layout: {readme}"
        )


class PairImagesClass(Protocol):
    """A PairImages subclass as `register_pair_images` uses it: its class attributes and constructor."""

    @property
    def name(self) -> str: ...

    @property
    def splits(self) -> tuple[str, ...]: ...

    @property
    def split_aliases(self) -> dict[str, str]: ...

    def __call__(self, root: str | Path | None, split: str, image_size: tuple[int, int]) -> PairImages: ...


def register_pair_images(
    cls: PairImagesClass,
    description: str,
    readme: str,
    check_layout: Callable[[Path], list[str]],
    tasks: tuple[str, ...] = ("correspondence",),
) -> None:
    """Register `cls` for `tasks`, opened with its default fit; split aliases are listed too."""

    def _open(split: str, root: str | None, image_size: tuple[int, int]) -> PairImages:
        return cls(root, split, image_size)

    register_dataset(
        cls.name,
        DatasetEntry(
            factory=_open,
            description=description,
            tasks=tasks,
            splits=(*cls.splits, *cls.split_aliases),
            readme=readme,
            check_layout=check_layout,
        ),
    )
