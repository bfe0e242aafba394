"""The scene pool: parallel rendering equals serial rendering, and the .npy cache is checked."""

from __future__ import annotations

import numpy as np
import pytest

from probekit.data.synthetic import SceneConfig, render_scene
from probekit.errors import DatasetError
from probekit.pretrain.pool import load_or_render_pool, pool_scenes, render_pool


def test_parallel_pool_matches_the_scenes_and_caches(tmp_path):
    pool = render_pool(3, 16, seed=1, workers=2)
    scenes = pool_scenes(3, 16, seed=1)
    expected = np.stack([render_scene(scenes.sample_seed(i), SceneConfig(image_size=(16, 16))).image for i in range(3)])
    assert pool.dtype == np.uint8 and np.array_equal(pool, expected)
    cache = tmp_path / "pool.npy"
    first = load_or_render_pool(3, 16, seed=1, workers=1, cache=cache)
    assert cache.is_file() and np.array_equal(first, pool)
    again = load_or_render_pool(3, 16, seed=1, cache=cache)
    assert np.array_equal(again, pool) and again.flags.writeable
    with pytest.raises(DatasetError, match="delete it or pass another path"):
        load_or_render_pool(4, 16, seed=1, cache=cache)
