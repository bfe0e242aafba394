"""ImageFolder classification datasets: `root/<split>/<class>/**/*.jpg`, classes = sorted folder names.

The class list comes from `root/train` when it exists (so every split agrees on the labels), else from
the split's own folder; an ImageNet-style `val/` folder of class folders is this layout. Images are
fitted like the classification evaluation transforms: the shorter side to the size, centre crop
(`imagefolder`), or the "resize 256, crop 224" ratio (`imagefolder-crop0.875`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from probekit.data.base import TargetSpec
from probekit.data.crop_window import centre_window, fit_to_window
from probekit.data.geometry import size_hw
from probekit.data.image_files import IMAGE_EXTENSIONS, is_image_file, read_rgb
from probekit.data.layout import require_files, require_root
from probekit.data.registry import DatasetEntry, register_dataset
from probekit.errors import DatasetError
from probekit.provenance import short_hash

README = "datasets/imagefolder/README.md"
CROP_FRACTIONS = {"": 1.0, "-crop0.875": 0.875}  # name suffix -> fraction of the centred window kept


class LabelledImages:
    """Image files with integer labels, fitted by a centred crop window (shared by imagefolder and csv)."""

    def __init__(
        self,
        name: str,
        split: str,
        root: Path,
        files: Sequence[Path],
        labels: Sequence[int],
        class_names: Sequence[str],
        image_size: tuple[int, int],
        crop_fraction: float,
        source: str,
    ):
        self.name, self.split, self.root = name, split, root
        self.files, self.labels = list(files), [int(label) for label in labels]
        self.class_names = list(class_names)
        self.image_size, self.crop_fraction, self.source = size_hw(image_size), crop_fraction, source
        self.targets = {
            "label": TargetSpec((), "int64", {"num_classes": len(self.class_names), "class_names": self.class_names})
        }

    def __len__(self) -> int:
        return len(self.files)

    def sample_id(self, index: int) -> str:
        path = self.files[index]
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image = read_rgb(self.files[index])  # (H0, W0, 3)
        window = centre_window(image.shape[:2], self.image_size, self.crop_fraction)
        return {
            "id": self.sample_id(index),
            "image": fit_to_window(image, window, self.image_size),
            "label": np.int64(self.labels[index]),
        }

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "split": self.split,
            "root": str(self.root),
            "source": self.source,
            "num_classes": len(self.class_names),
            "crop_fraction": self.crop_fraction,
            "resize": f"centred window of the size's aspect x {self.crop_fraction}, resized (area/bicubic)",
        }

    def fingerprint(self) -> str:
        return short_hash(self.describe(), [self.sample_id(i) for i in range(len(self))], self.labels)


def class_folders(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entry.name for entry in entries if entry.is_dir() and not entry.name.startswith("."))
    except OSError as error:
        _unreadable_folder(error, folder)


def _unreadable_folder(error: OSError, folder: Path | str) -> NoReturn:
    """A folder that cannot be listed is an error naming it, never a class silently left out."""
    raise DatasetError(
        f"cannot list folder {error.filename or folder} ({error.strerror or error}): "
        "fix its permissions (chmod a+rx) or move it out of the dataset"
    ) from None


def scan_images(folder: Path) -> list[Path]:
    """Image files under `folder` (recursively, links followed), in sorted order."""
    found: list[Path] = []
    for directory, subdirs, names in os.walk(folder, followlinks=True, onerror=lambda e: _unreadable_folder(e, folder)):
        subdirs.sort()
        found.extend(Path(directory) / name for name in sorted(names) if is_image_file(Path(name)))
    return found


def open_imagefolder(
    split: str, root: str | None, image_size: tuple[int, int], name: str = "imagefolder", crop_fraction: float = 1.0
) -> LabelledImages:
    base = require_root(root, name, README)
    folder = base / split
    if not folder.is_dir():
        raise DatasetError(f"{name}: {folder} is missing (expected {base}/<split>/<class>/*.jpg); layout: {README}")
    reference = base / "train" if (base / "train").is_dir() else folder
    classes = class_folders(reference)
    require_files(classes, f"class folders in {reference}", name, README)
    unknown = sorted(set(class_folders(folder)) - set(classes))
    if unknown:
        raise DatasetError(
            f"{name}: {folder / unknown[0]} is not a class of {reference} "
            f"({len(unknown)} unknown); every split must use the training classes"
        )
    files, labels = [], []
    for label, class_name in enumerate(classes):
        if (folder / class_name).is_dir():
            images = scan_images(folder / class_name)
            files += images
            labels += [label] * len(images)
    require_files(files, f"image files ({' '.join(IMAGE_EXTENSIONS)}) in the class folders of {folder}", name, README)
    return LabelledImages(
        name,
        split,
        base,
        files,
        labels,
        classes,
        image_size,
        crop_fraction,
        source=f"folders, classes from {reference.name}/",
    )


def check_imagefolder(root: Path) -> list[str]:
    splits = [d for d in ("train", "val", "test") if (root / d).is_dir()]
    if not splits:
        return [f"no split folder (train/, val/ or test/) in {root}"]
    return [f"{root / split} has no class folders" for split in splits if not class_folders(root / split)]


def register_crop_variants(
    prefix: str, factory: Callable[..., LabelledImages], description: str, check_layout: Callable[[Path], list[str]]
) -> None:
    """Register one classification dataset per CROP_FRACTIONS entry, named prefix + suffix."""
    for suffix, fraction in CROP_FRACTIONS.items():
        fit = "; 'resize 256, crop 224' ratio" if fraction < 1 else "; shorter side to the size, centre crop"
        register_dataset(
            f"{prefix}{suffix}",
            DatasetEntry(
                factory=partial(factory, name=f"{prefix}{suffix}", crop_fraction=fraction),
                description=description + fit,
                tasks=("classification",),
                splits=(),
                readme=README,
                check_layout=check_layout,
            ),
        )


register_crop_variants(
    "imagefolder",
    open_imagefolder,
    check_layout=check_imagefolder,
    description="classification images in root/<split>/<class>/ (ImageNet-style train/ and val/)",
)
