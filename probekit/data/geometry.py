"""Fitting images of any size to the extraction size, and the map from original to stored pixels.

Policies (docs/concepts.md): classification may `stretch`; segmentation and depth keep the aspect ratio,
either `crop` (scale so the image covers the size, centre crop) or `pad` (scale so it fits, pad the
rest: zeros in the image, the ignore index in masks, 0 = invalid in depth). Every fit returns a
`PixelMap`, so keypoints and predictions can be carried between original and stored pixels.
Coordinates are continuous pixel coordinates: pixel (row i, col j) covers [j, j+1) x [i, i+1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from probekit.errors import DatasetError

_INTERPOLATION = {
    "bicubic": cv2.INTER_CUBIC,
    "bilinear": cv2.INTER_LINEAR,
    "nearest": cv2.INTER_NEAREST,
    "area": cv2.INTER_AREA,
}
FIT_MODES = ("crop", "pad", "stretch")


def size_hw(size: Sequence[int]) -> tuple[int, int]:
    """An (H, W) size as a pair, whether given as a tuple or a list (YAML)."""
    if len(size) != 2:
        raise DatasetError(f"image size {list(size)} is not (height, width): give two numbers, e.g. 224x320")
    h, w = size
    return int(h), int(w)


@dataclass(frozen=True)
class PixelMap:
    """stored_xy = original_xy * (sx, sy) + (ox, oy); stored as the float32 target `pixel_map`."""

    sx: float
    sy: float
    ox: float
    oy: float

    def to_stored(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) original x, y -> stored x, y."""
        return np.asarray(xy, dtype=np.float64) * (self.sx, self.sy) + (self.ox, self.oy)

    def to_original(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) stored x, y -> original x, y."""
        return (np.asarray(xy, dtype=np.float64) - (self.ox, self.oy)) / (self.sx, self.sy)

    def as_array(self) -> np.ndarray:
        return np.array([self.sx, self.sy, self.ox, self.oy], dtype=np.float32)

    @classmethod
    def from_array(cls, values: np.ndarray) -> PixelMap:
        sx, sy, ox, oy = (float(v) for v in np.asarray(values).reshape(4))
        return cls(sx, sy, ox, oy)

    @classmethod
    def identity(cls) -> PixelMap:
        return cls(1.0, 1.0, 0.0, 0.0)


def plan_fit(original_hw: tuple[int, int], size_hw: tuple[int, int], mode: str) -> tuple[tuple[int, int], PixelMap]:
    """The resized shape (h, w) before cropping/padding, and the pixel map of the whole fit."""
    if mode not in FIT_MODES:
        raise DatasetError(f"unknown fit mode {mode!r}: use one of {', '.join(FIT_MODES)}")
    (h0, w0), (H, W) = original_hw, size_hw
    if mode == "stretch":
        return (H, W), PixelMap(W / w0, H / h0, 0.0, 0.0)
    scale = max(H / h0, W / w0) if mode == "crop" else min(H / h0, W / w0)
    h, w = max(1, round(h0 * scale)), max(1, round(w0 * scale))
    # crop: negative offsets (centre crop); pad: positive offsets (centred)
    ox, oy = (W - w) // 2, (H - h) // 2
    return (h, w), PixelMap(w / w0, h / h0, float(ox), float(oy))


def fit_array(
    array: np.ndarray, size_hw: tuple[int, int], mode: str, interpolation: str, fill: float | int = 0
) -> tuple[np.ndarray, PixelMap]:
    """Resize (H0, W0[, C]) `array` to `size_hw` by `mode`; `fill` pads (pad mode)."""
    (h, w), pixel_map = plan_fit(array.shape[:2], size_hw, mode)
    resized = (
        array if (h, w) == array.shape[:2] else cv2.resize(array, (w, h), interpolation=_INTERPOLATION[interpolation])
    )
    if resized.ndim < array.ndim:  # cv2 drops a trailing channel axis of size 1
        resized = resized[..., None]
    H, W = size_hw
    out = np.full((H, W, *array.shape[2:]), fill, dtype=array.dtype)
    ox, oy = int(pixel_map.ox), int(pixel_map.oy)
    # overlap of the resized array (placed at ox, oy) with the output window
    src_x, dst_x = max(0, -ox), max(0, ox)
    src_y, dst_y = max(0, -oy), max(0, oy)
    cw, ch = min(w - src_x, W - dst_x), min(h - src_y, H - dst_y)
    out[dst_y : dst_y + ch, dst_x : dst_x + cw] = resized[src_y : src_y + ch, src_x : src_x + cw]
    return out, pixel_map


def fit_image(
    image: np.ndarray, size_hw: tuple[int, int], mode: str = "crop", interpolation: str = "bicubic"
) -> tuple[np.ndarray, PixelMap]:
    """uint8 (H0, W0, 3) -> (H, W, 3) and its pixel map. Downscaling uses area averaging (no aliasing)."""
    (h, w), _ = plan_fit(image.shape[:2], size_hw, mode)
    if h * w < image.shape[0] * image.shape[1] and interpolation != "nearest":
        interpolation = "area"
    return fit_array(image, size_hw, mode, interpolation, fill=0)


def fit_mask(
    mask: np.ndarray, size_hw: tuple[int, int], mode: str = "crop", ignore_index: int = 255
) -> tuple[np.ndarray, PixelMap]:
    """Label map (H0, W0) -> (H, W) with nearest neighbour; padding gets `ignore_index`."""
    return fit_array(mask, size_hw, mode, "nearest", fill=ignore_index)
