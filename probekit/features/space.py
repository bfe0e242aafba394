"""Disk space: the bytes a store will take, and a check before each write that stops cleanly when the disk is full.

HDF5 reports a failed write late (when a dataset handle is closed, or at exit), by which time its own
bookkeeping is broken and the file cannot be reopened. So the writer asks the file system for free
space before every batch and stops *before* a write that would not fit: the store stays valid and
the same command resumes it once space is freed.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

# Room kept free beyond a batch's own bytes: HDF5 metadata (chunk index, attributes) grows as chunks are added.
METADATA_MARGIN = 2**20
ID_BYTES = 64  # a variable-length id string: heap entry + index, roughly


def feature_bytes(
    layers: Sequence[int],
    grid: tuple[int, int],
    dim: int,
    dtype: str,
    outputs: Sequence[str],
    shapes: Mapping[int, tuple[int, int, int]] | None = None,
) -> int:
    """Bytes one sample's features take (stored uncompressed): every layer's chosen outputs (cls, mean, patch).
    `shapes`: per layer (h, w, D) where layers differ (feature-map backbones), else every layer is (grid, dim)."""
    total = 0
    for layer in layers:
        h, w, d = shapes[layer] if shapes else (*grid, dim)
        per_layer = {"cls": d, "mean": d, "patch": h * w * d}
        total += sum(per_layer[name] for name in outputs)
    return total * np.dtype(dtype).itemsize


def raw_target_bytes(target_shapes: Mapping[str, tuple[tuple[int, ...], str]]) -> int:
    """Bytes one sample's targets take uncompressed."""
    return sum(int(np.prod(shape, dtype=np.int64)) * np.dtype(kind).itemsize for shape, kind in target_shapes.values())


def sample_bytes(
    layers: Sequence[int],
    grid: tuple[int, int],
    dim: int,
    dtype: str,
    target_shapes: Mapping[str, tuple[tuple[int, ...], str]],
    outputs: Sequence[str] = ("cls", "mean", "patch"),
    shapes: Mapping[int, tuple[int, int, int]] | None = None,
) -> int:
    """Bytes one sample takes at most in a store: the chosen outputs of every layer, every target uncompressed,
    its id (the per-batch free-space check: compressed targets only ever take less)."""
    features = feature_bytes(layers, grid, dim, dtype, outputs, shapes)
    return int(features + raw_target_bytes(target_shapes) + ID_BYTES)


def free_bytes(path: Path) -> int:
    """Free bytes on the file system that holds `path` (or its nearest existing parent)."""
    folder = Path(path).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def human_bytes(count: float) -> str:
    """1234567 -> '1.2 MB' (decimal units, as disk sizes are sold and `df -H` prints them)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


def disk_full_message(path: Path, needed: int) -> str:
    free = free_bytes(path)
    return (
        f"disk full: {human_bytes(free)} free at {Path(path).absolute().parent}, need ~{human_bytes(needed)} more "
        f"for {Path(path).name}; free some space and re-run the same command to resume"
    )


def is_disk_full(error: BaseException) -> bool:
    """True for an OSError/RuntimeError that HDF5 or the OS raised because the disk (or quota) is full."""
    code = getattr(error, "errno", None)
    return (
        code in (errno.ENOSPC, errno.EDQUOT)
        or "No space left on device" in str(error)
        or "Disk quota exceeded" in str(error)
    )
