"""Reading the image files of real datasets: RGB as uint8 (H, W, 3), 16-bit PNGs (depth maps) as uint16 (H, W)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from probekit.errors import DatasetError

# torchvision's ImageFolder extensions (GIF is left out there too); matched case-insensitively.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def read_rgb(path: Path) -> np.ndarray:
    """uint8 (H, W, 3) RGB. Grey and palette images become three channels; EXIF rotation is ignored
    (as PIL and torchvision do, so images match the ones other evaluation code sees)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise DatasetError(f"cannot read image {path}: missing or not an image file")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_png16(path: Path) -> np.ndarray:
    """uint16 (H, W) from a single-channel 16-bit PNG (depth maps store mm or 1/256 m)."""
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise DatasetError(f"cannot read depth map {path}: missing or not a PNG")
    if array.dtype != np.uint16 or array.ndim != 2:
        raise DatasetError(f"{path} is {array.dtype} with shape {array.shape}: expected a single-channel 16-bit PNG")
    return array


def require_listed(paths: list[Path], listing: str, dataset: str, readme: str) -> None:
    """Raise naming the first listed file that does not exist (and how many are missing) before any work starts."""
    missing = [path for path in paths if not path.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DatasetError(f"{dataset}: {missing[0]} is missing{more}, listed by {listing}; layout: {readme}")
