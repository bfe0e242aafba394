"""Reading the image files of real datasets: RGB as uint8 (H, W, 3), 16-bit PNGs (depth maps) as uint16 (H, W)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from probekit.errors import DatasetError, UnreadableFileError

# torchvision's ImageFolder extensions (GIF is left out there too); matched case-insensitively.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def read_rgb(path: Path, dataset: str | None = None, apply_orientation: bool = False) -> np.ndarray:
    """uint8 (H, W, 3) RGB. Grey and palette images become three channels; EXIF rotation is ignored
    (as PIL and torchvision do, so images match the ones other evaluation code sees) unless asked for.

    Decoded by Pillow, which raises on a truncated or broken file where OpenCV would return the part it
    could decode, grey-filled. Modes whose Pillow conversion is not OpenCV's (16-bit grey, CMYK, ...) are
    decoded again by OpenCV once Pillow has read them whole, so every good file gives today's pixels.
    """
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            image.load()  # raises OSError on truncated or broken data (ImageFile.LOAD_TRUNCATED_IMAGES is False)
            if apply_orientation:
                image = ImageOps.exif_transpose(image)
            if image.mode in _PILLOW_MODES:
                return _pillow_rgb(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise UnreadableFileError(f"{_prefix(dataset)}cannot read image {path} ({_reason(error)}); "
                           "replace or remove the file") from None
    flags = cv2.IMREAD_COLOR | (0 if apply_orientation else cv2.IMREAD_IGNORE_ORIENTATION)
    decoded = cv2.imread(str(path), flags)
    if decoded is None:
        raise UnreadableFileError(f"{_prefix(dataset)}cannot read image {path} (OpenCV cannot decode it); "
                                  "convert it to PNG or JPEG")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


# Pillow modes whose conversion to RGB gives OpenCV's pixels exactly (checked in tests/reliability).
_PILLOW_MODES = ("RGB", "L", "P", "RGBA")


def _pillow_rgb(image) -> np.ndarray:
    """(H, W, 3) uint8 from a loaded Pillow image of one of _PILLOW_MODES."""
    if image.mode == "RGB":
        return np.array(image)  # a writable copy, as OpenCV's arrays are
    if image.mode == "L":
        return np.repeat(np.asarray(image)[..., None], 3, axis=-1)  # (H, W) -> (H, W, 3)
    return np.array(image.convert("RGB"))


def _prefix(dataset: str | None) -> str:
    return f"{dataset}: " if dataset else ""


def _reason(error: Exception) -> str:
    """What went wrong, in a few words: missing, unreadable, not an image, truncated or broken."""
    if isinstance(error, FileNotFoundError):
        return "the file is missing"
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, IsADirectoryError):
        return "a directory, not a file"
    if type(error).__name__ == "UnidentifiedImageError":
        return "not an image file Pillow knows"
    return f"corrupt: {error}"


def read_png16(path: Path) -> np.ndarray:
    """uint16 (H, W) from a single-channel 16-bit PNG (depth maps store mm or 1/256 m)."""
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise UnreadableFileError(f"cannot read depth map {path}: missing, truncated or not a PNG")
    if array.dtype != np.uint16 or array.ndim != 2:
        raise DatasetError(f"{path} is {array.dtype} with shape {array.shape}: expected a single-channel 16-bit PNG")
    return array


def require_listed(paths: list[Path], listing: str, dataset: str, readme: str) -> None:
    """Raise naming the first listed file that does not exist (and how many are missing) before any work starts."""
    missing = [path for path in paths if not path.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DatasetError(f"{dataset}: {missing[0]} is missing{more}, listed by {listing}; layout: {readme}")
