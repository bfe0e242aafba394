"""The one place image files are opened: RGB images, 16-bit depth PNGs and (via label_maps) label PNGs.

Every file is opened and decoded whole by Pillow in `load_image`, so a missing, truncated, corrupt or
oversized (decompression bomb) file is one UnreadableFileError naming it, whichever reader asked.

What each Pillow mode becomes:
- `read_rgb` (uint8 (H, W, 3)): RGB as stored; RGBA drops alpha (no compositing); L repeats the grey in
  three channels; P gives the palette's colours. Other modes (LA, PA, 1, I;16, I, F, CMYK, YCbCr, ...)
  are decoded again by OpenCV once Pillow has read them whole, so their pixels are OpenCV's: 16-bit grey
  is scaled to 8 bits (value >> 8), CMYK JPEGs use libjpeg's conversion (Adobe's inverted CMYK included),
  and a mode OpenCV cannot decode (32-bit float TIFF) is an UnreadableFileError.
- `read_png16` (uint16 (H, W)): I;16 (and I;16B, or I with values within 0..65535) as stored; every other
  mode, 8-bit grey and 16-bit RGB included, is a DatasetError: depth maps are single-channel 16-bit PNGs.
- `label_maps.read_label` (uint8 (H, W)): P keeps its palette indices (not the colours, as OpenCV would
  give), L its grey values; other modes are refused.
- EXIF orientation is ignored (pixels as stored, as PIL and torchvision load them) unless
  `apply_orientation=True` asks for it (`probekit show` does, to draw photos upright).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from probekit.errors import DatasetError, UnreadableFileError

if TYPE_CHECKING:
    from PIL.Image import Image

# torchvision's ImageFolder extensions (GIF is left out there too); matched case-insensitively.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def load_image(path: Path, what: str, fix: str, dataset: str | None = None, apply_orientation: bool = False) -> Image:
    """The Pillow image of `path`, decoded whole (and turned upright by its EXIF when asked).

    Pillow raises on a truncated or broken file where OpenCV would return the part it could decode,
    grey-filled; any such failure becomes one UnreadableFileError naming the file, the `what` it holds
    and the `fix`.
    """
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            image.load()  # raises OSError on truncated or broken data (ImageFile.LOAD_TRUNCATED_IMAGES is False)
            return ImageOps.exif_transpose(image) if apply_orientation else image
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise UnreadableFileError(f"{_prefix(dataset)}cannot read {what} {path} ({_reason(error)}); {fix}") from None


def image_hw(path: Path, dataset: str | None = None) -> tuple[int, int]:
    """(height, width) of an image from its header, without decoding it; a file Pillow cannot open is decoded
    by `load_image`, which raises one line naming it."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.height, image.width
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        image = load_image(path, "image", "replace or remove the file", dataset)
        return image.height, image.width


def read_rgb(path: Path, dataset: str | None = None, apply_orientation: bool = False) -> np.ndarray:
    """uint8 (H, W, 3) RGB (see the module docstring for what each mode becomes)."""
    image = load_image(path, "image", "replace or remove the file", dataset, apply_orientation)
    if image.mode in _PILLOW_MODES:
        return _pillow_rgb(image)
    flags = cv2.IMREAD_COLOR | (0 if apply_orientation else cv2.IMREAD_IGNORE_ORIENTATION)
    decoded = cv2.imread(str(path), flags)
    if decoded is None:
        raise UnreadableFileError(
            f"{_prefix(dataset)}cannot read image {path} (OpenCV cannot decode it); convert it to PNG or JPEG"
        )
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


# Pillow modes whose conversion to RGB gives OpenCV's pixels exactly (checked in tests/reliability).
_PILLOW_MODES = ("RGB", "L", "P", "RGBA")


def _pillow_rgb(image: Image) -> np.ndarray:
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
    if type(error).__name__ == "DecompressionBombError":
        return f"too large to decode safely: {error}"
    return f"corrupt: {error}"


# Pillow modes of single-channel 16-bit PNGs (I: older Pillow versions).
_DEPTH_MODES = ("I;16", "I;16B", "I")


def read_png16(path: Path) -> np.ndarray:
    """uint16 (H, W) from a single-channel 16-bit PNG (depth maps store mm or 1/256 m)."""
    image = load_image(path, "depth map", "replace it or re-extract the archive")
    array = np.array(image)  # (H, W)
    if image.mode not in _DEPTH_MODES or array.min(initial=0) < 0 or array.max(initial=0) > np.iinfo(np.uint16).max:
        raise DatasetError(
            f"{path} is a {image.mode} image of {image.width}x{image.height}: expected a single-channel 16-bit PNG"
        )
    return array.astype(np.uint16)


def require_listed(paths: list[Path], listing: str, dataset: str, readme: str) -> None:
    """Raise naming the first listed file that does not exist (and how many are missing) before any work starts."""
    missing = [path for path in paths if not path.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DatasetError(f"{dataset}: {missing[0]} is missing{more}, listed by {listing}; layout: {readme}")


def encode_png_bytes(array: np.ndarray) -> np.ndarray | None:
    """uint8 (H, W) -> lossless PNG bytes as a (n,) uint8 array (None if OpenCV cannot encode it).

    The stores keep original label maps this way (probekit/features/originals.py)."""
    ok, data = cv2.imencode(".png", np.ascontiguousarray(array, dtype=np.uint8))
    return np.asarray(data, dtype=np.uint8).reshape(-1) if ok else None


def decode_png_bytes(data: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """PNG bytes -> uint8 (H, W); None when they do not decode to that shape (a damaged row)."""
    image: np.ndarray | None = cv2.imdecode(np.asarray(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    return image if image is not None and image.shape == tuple(shape) else None
