"""Turning dataset samples into backbone input: resize (if needed) in workers, normalise on the device."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from probekit.backbones.base import Preprocessing
from probekit.features.skips import Unreadable

_CV2_INTERPOLATION = {"bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}


@dataclass(frozen=True)
class Collate:
    """Stacks samples into a batch: uint8 images (B, H, W, 3) at the extraction size plus targets.

    Images stay uint8 until they reach the device (4x less to copy); `normalise` finishes the job there.
    """

    image_size: tuple[int, int]
    interpolation: str
    target_names: Sequence[str]
    with_originals: bool = False  # collect each sample's "original" dict (dense targets at original size)

    def __call__(self, samples: Sequence[Mapping[str, Any] | Unreadable]) -> dict[str, Any]:
        """{"ids", "images", "targets", "originals"} of the readable samples, and "unreadable": the markers left out."""
        unreadable = [s for s in samples if isinstance(s, Unreadable)]
        readable = [s for s in samples if not isinstance(s, Unreadable)]
        if not readable:
            return {"ids": [], "images": None, "targets": {}, "originals": [], "unreadable": unreadable}
        images = np.stack([self._resize(s["image"]) for s in readable])  # (B, H, W, 3) uint8
        return {
            "ids": [str(s["id"]) for s in readable],
            "images": torch.from_numpy(images),
            "targets": {name: np.stack([np.asarray(s[name]) for s in readable]) for name in self.target_names},
            "originals": [s["original"] for s in readable] if self.with_originals else [],
            "unreadable": unreadable,
        }

    def _resize(self, image: np.ndarray) -> np.ndarray:
        H, W = self.image_size
        if image.shape[:2] == (H, W):
            return image
        return cv2.resize(image, (W, H), interpolation=_CV2_INTERPOLATION.get(self.interpolation, cv2.INTER_CUBIC))


def normalise(images: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) with the backbone's mean/std."""
    mean = torch.tensor(preprocessing.mean, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(preprocessing.std, device=images.device).view(1, 3, 1, 1)
    x = images.permute(0, 3, 1, 2).float().div_(255.0)  # (B, 3, H, W)
    return x.sub_(mean).div_(std)  # in place: the same values as (x - mean) / std, without two more batch copies
