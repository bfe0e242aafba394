"""A centred crop window in original pixels: how real images (and their dense targets) meet the extraction size.

The window is the largest centred rectangle of whole original pixels with the aspect ratio of the
extraction size (times `fraction`: 0.875 is the "resize 256, crop 224" evaluation transform). The
image is cut to the window and resized to the size; dense targets are cut to the same window and
kept at the original resolution. So the stored target covers exactly the image's field of view, and
a prediction made on the image, upsampled to the target's shape, lines up pixel for pixel (depth
metrics are computed on the original resolution, as the published protocols do).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from probekit.data.geometry import PixelMap, fit_image


@dataclass(frozen=True)
class Window:
    """Rows top:top+height, cols left:left+width of the original frame."""

    top: int
    left: int
    height: int
    width: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    def cut(self, array: np.ndarray) -> np.ndarray:
        """(H0, W0, ...) -> (height, width, ...), a view."""
        return array[self.top : self.top + self.height, self.left : self.left + self.width]

    def pixel_map(self, size_hw: tuple[int, int]) -> PixelMap:
        """Original pixel coordinates -> coordinates in the image resized to `size_hw`."""
        H, W = size_hw
        sx, sy = W / self.width, H / self.height
        return PixelMap(sx, sy, -self.left * sx, -self.top * sy)

    def box(self, top: int, bottom: int, left: int, right: int) -> tuple[int, int, int, int]:
        """A box of original rows top:bottom, cols left:right in window coordinates, clipped to the window."""

        def clip(v: int, hi: int) -> int:
            return int(min(max(v, 0), hi))

        return (
            clip(top - self.top, self.height),
            clip(bottom - self.top, self.height),
            clip(left - self.left, self.width),
            clip(right - self.left, self.width),
        )

    def as_list(self) -> list[int]:
        return [self.top, self.left, self.height, self.width]


def centre_window(original_hw: tuple[int, int], size_hw: tuple[int, int], fraction: float = 1.0) -> Window:
    """The largest centred window of the aspect ratio of `size_hw` (scaled by `fraction`) in `original_hw`."""
    (h0, w0), (H, W) = original_hw, size_hw
    if not 0 < fraction <= 1:
        raise ValueError(f"crop fraction must be in (0, 1], got {fraction}")
    if W * h0 >= H * w0:  # the size is wider than the original (or equal): keep the full width
        height, width = w0 * H / W, float(w0)
    else:
        height, width = float(h0), h0 * W / H
    height = min(h0, max(1, round(height * fraction)))
    width = min(w0, max(1, round(width * fraction)))
    return Window((h0 - height) // 2, (w0 - width) // 2, height, width)


def fit_to_window(image: np.ndarray, window: Window, size_hw: tuple[int, int]) -> np.ndarray:
    """uint8 (H0, W0, 3) -> (H, W, 3): the window resized to the size (area averaging when shrinking)."""
    return fit_image(np.ascontiguousarray(window.cut(image)), size_hw, mode="stretch")[0]
