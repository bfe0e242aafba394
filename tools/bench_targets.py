"""Compression of dense target maps in HDF5: raw / stored bytes and write time per map, per filter.

    python tools/bench_targets.py --image-size 224 --samples 32

Measures masks and depth of the synthetic scenes at the extraction size, and synthetic maps of the real
benchmarks' sizes: NYU-sized depth (480 x 640, millimetre steps as NYU's 16-bit PNGs, an invalid border)
and KITTI-sized depth (352 x 1216 after the KB crop, ~6% of pixels with a LiDAR return, 1/256 m steps as
KITTI's 16-bit PNGs). Each map is one chunk with Fletcher-32, as the store writes targets
(probekit/features/store.py, TARGET_FILTERS: the row marked `*`).
"""

from __future__ import annotations

import argparse
import io
import time

import h5py
import numpy as np

from probekit.data import open_dataset
from probekit.features.store import TARGET_FILTERS

FILTERS: dict[str, dict[str, object]] = {
    "none": {},
    "lzf": {"compression": "lzf"},
    "shuffle+lzf": {"compression": "lzf", "shuffle": True},
    "gzip1": {"compression": "gzip", "compression_opts": 1},
    "shuffle+gzip1": {"compression": "gzip", "compression_opts": 1, "shuffle": True},
    "shuffle+gzip4": {"compression": "gzip", "compression_opts": 4, "shuffle": True},
}


def stored(maps: np.ndarray, filters: dict[str, object]) -> tuple[float, float]:
    """(raw / stored bytes, write ms per map) of `maps` (n, H, W) written one map per chunk."""
    with h5py.File(io.BytesIO(), "w") as f:
        dataset = f.create_dataset(
            "x", shape=maps.shape, dtype=maps.dtype, chunks=(1, *maps.shape[1:]), fletcher32=True, **filters
        )
        began = time.perf_counter()
        for i, values in enumerate(maps):
            dataset[i] = values
        f.flush()
        seconds = time.perf_counter() - began
        return maps.nbytes / dataset.id.get_storage_size(), 1e3 * seconds / len(maps)


def nyu_like(count: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 480, 640) float32 metres: tilted planes and a box, in millimetre steps, an invalid border."""
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    maps = []
    for _ in range(count):
        a, b = rng.uniform(-0.004, 0.004, 2)
        depth = 2.5 + a * xx + b * yy
        y0, x0 = rng.integers(100, 300, 2)
        depth[y0 : y0 + 120, x0 : x0 + 160] -= 0.8  # an object in front
        depth = np.round(depth * 1000) / 1000  # 16-bit millimetres
        depth[:, :40] = 0
        depth[:12] = 0
        maps.append(depth.astype(np.float32))
    return np.stack(maps)


def kitti_like(count: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 352, 1216) float32 metres: ~6% of pixels with a return (lower rows), 1/256 m steps, 0 elsewhere."""
    maps = []
    for _ in range(count):
        depth = np.zeros((352, 1216), dtype=np.float32)
        rows = np.arange(150, 352)
        valid = rng.random((len(rows), 1216)) < 0.11
        distance = 80.0 * (1 - (rows - 150) / 220)[:, None] + rng.normal(0, 0.5, (len(rows), 1216))
        depth[150:] = np.where(valid, np.round(np.clip(distance, 1, 80) * 256) / 256, 0)
        maps.append(depth)
    return np.stack(maps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--samples", type=int, default=32)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    dataset = open_dataset("synthetic", "train", None, (args.image_size, args.image_size), args.samples, None)
    samples = [dataset[i] for i in range(len(dataset))]
    maps = {
        f"synthetic mask {args.image_size}px": np.stack([np.asarray(s["mask"]) for s in samples]),
        f"synthetic depth {args.image_size}px": np.stack([np.asarray(s["depth"], dtype=np.float32) for s in samples]),
        "NYU-sized depth 480x640": nyu_like(8, rng),
        "KITTI-sized depth 352x1216": kitti_like(8, rng),
    }
    for name, values in maps.items():
        print(f"{name}  ({values.shape[0]} maps, {values.dtype}, raw {values[0].nbytes / 1e3:.1f} KB each)")
        for label, filters in FILTERS.items():
            ratio, ms = stored(values, filters)
            mark = "*" if filters == TARGET_FILTERS else " "
            print(f"  {mark} {label:<14} raw/stored {ratio:7.2f}x   write {ms:7.2f} ms/map")


if __name__ == "__main__":
    main()
