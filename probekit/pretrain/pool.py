"""A pool of pre-rendered synthetic scenes: the images DINO pretraining cuts its crops from.

Rendering (~6 ms per 128-px scene) is too slow to do per step, so a fixed pool is rendered once, in
parallel processes, and optionally cached as an .npy file. Its seed is separate from the benchmark's
splits (which use seed 0), so the shipped backbone never sees the probes' train/val/test images.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from probekit.data.synthetic import SceneConfig, SyntheticScenes, render_scene
from probekit.errors import DatasetError

log = logging.getLogger("probekit.pretrain")


def _render_chunk(seeds: list[int], config: SceneConfig) -> np.ndarray:
    return np.stack([render_scene(seed, config).image for seed in seeds])  # (n, H, W, 3) uint8


def pool_scenes(size: int, image_size: int, seed: int, num_classes: int = 6) -> SyntheticScenes:
    """The synthetic 'train' scenes a pool of `size` images is rendered from."""
    config = SceneConfig(image_size=(image_size, image_size), num_classes=num_classes)
    return SyntheticScenes("train", num_samples=size, config=config, seed=seed)


def render_pool(
    size: int,
    image_size: int,
    seed: int,
    num_classes: int = 6,
    workers: int | None = None,
) -> np.ndarray:
    """Render `size` scenes as one uint8 array (size, H, W, 3), split over `workers` processes."""
    scenes = pool_scenes(size, image_size, seed, num_classes)
    seeds = [scenes.sample_seed(i) for i in range(size)]
    workers = max(1, min(workers or os.cpu_count() or 1, size))
    if workers == 1:
        return _render_chunk(seeds, scenes.config)
    chunks = [seeds[i : i + 64] for i in range(0, size, 64)]
    # fork: the children only run numpy, and skip re-importing torch (spawn costs seconds per worker)
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
    with ProcessPoolExecutor(workers, mp_context=context) as executor:
        parts = list(executor.map(_render_chunk, chunks, [scenes.config] * len(chunks)))
    return np.concatenate(parts)


def load_or_render_pool(
    size: int,
    image_size: int,
    seed: int,
    num_classes: int = 6,
    workers: int | None = None,
    cache: str | Path | None = None,
) -> np.ndarray:
    """The pool from `cache` (.npy) when it holds exactly this pool, else rendered (and cached there)."""
    if cache is not None:
        cache = Path(cache)
        if cache.is_file():
            try:  # the header first: a wrong cache fails before reading it all; never unpickles (allow_pickle off)
                images = np.load(cache, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError) as error:
                raise DatasetError(
                    f"pool cache {cache} is not a plain .npy array ({str(error).split('.')[0]}): "
                    f"delete it or pass another path"
                ) from None
            if images.shape != (size, image_size, image_size, 3) or images.dtype != np.uint8:
                raise DatasetError(
                    f"pool cache {cache} holds {images.shape} {images.dtype}, expected "
                    f"({size}, {image_size}, {image_size}, 3) uint8: delete it or pass another path"
                )
            log.info("scene pool: loaded %d images from %s", size, cache)
            return np.array(images)  # a writable in-memory copy
    log.info("scene pool: rendering %d scenes at %d px", size, image_size)
    images = render_pool(size, image_size, seed, num_classes, workers)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(cache.name + ".partial.npy")
        np.save(partial, images)
        partial.replace(cache)  # never leaves a half-written cache behind
    return images
