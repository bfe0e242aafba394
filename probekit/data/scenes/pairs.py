"""Two views of one scene with ground-truth correspondences (occlusion-tested pixel matches)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from probekit.data.scenes.render import _ROOM_ID, SceneSample, _noise_rngs, _render_view
from probekit.data.scenes.world import DEFAULT_CONFIG, SceneConfig, _sample_world

_MATCH_REL_TOL = 0.02  # relative z-depth tolerance of the correspondence occlusion test


@dataclass(frozen=True, eq=False)
class ScenePair:
    """Two views of one scene and M ground-truth correspondences: points_a[m] in view a and
    points_b[m] in view b (float32 pixel xy) image the same surface point, visible in both."""

    view_a: SceneSample
    view_b: SceneSample
    points_a: np.ndarray
    points_b: np.ndarray


def _match(
    a: SceneSample, ids_a: np.ndarray, b: SceneSample, ids_b: np.ndarray, num_points: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth matches a -> b at pixel centres of view a, occlusion-tested in view b."""
    h, w = a.depth.shape
    rows, cols = np.nonzero(a.depth > 0)
    xy_a = np.stack([cols + 0.5, rows + 0.5], axis=1)  # (N, 2) pixel centres
    xy_b, z_b = b.camera.project(a.camera.unproject(xy_a, a.depth[rows, cols]))
    xy_b = xy_b.astype(np.float32)  # test the coordinates that are returned
    with np.errstate(invalid="ignore"):
        inside = (z_b > 0) & (xy_b[:, 0] >= 0) & (xy_b[:, 0] < w) & (xy_b[:, 1] >= 0) & (xy_b[:, 1] < h)
    rb = np.clip(np.floor(xy_b[:, 1]), 0, h - 1).astype(int)
    cb = np.clip(np.floor(xy_b[:, 0]), 0, w - 1).astype(int)
    same_surface = ids_b[rb, cb] == ids_a[rows, cols]
    depth_ok = np.abs(b.depth[rb, cb] - z_b) <= _MATCH_REL_TOL * z_b
    ok = inside & same_surface & depth_ok
    on_object = ids_a[rows, cols] < _ROOM_ID
    chosen = rng.permutation(np.flatnonzero(ok & on_object))[:num_points]  # prefer object points
    if len(chosen) < num_points:
        rest = rng.permutation(np.flatnonzero(ok & ~on_object))[: num_points - len(chosen)]
        chosen = np.concatenate([chosen, rest])
    return xy_a[chosen].astype(np.float32), xy_b[chosen]


def render_pair(
    seed: int,
    config: SceneConfig = DEFAULT_CONFIG,
    num_points: int = 64,
    baseline_deg: tuple[float, float] | None = None,
) -> ScenePair:
    """Render the scene for `seed` from two cameras and sample up to `num_points` ground-truth
    correspondences (object points first, floor/wall points if too few). View b orbits the
    object cluster by a yaw in `baseline_deg` (default config.pair_yaw_deg) with its own distance,
    height and field of view."""
    if baseline_deg is not None:
        config = dataclasses.replace(config, pair_yaw_deg=(baseline_deg[0], baseline_deg[1]))
    world = _sample_world(seed, config)
    noise_a, noise_b, match_rng = _noise_rngs(seed)
    view_a, ids_a = _render_view(world, world.camera_a, config, noise_a)
    view_b, ids_b = _render_view(world, world.camera_b, config, noise_b)
    points_a, points_b = _match(view_a, ids_a, view_b, ids_b, num_points, match_rng)
    return ScenePair(view_a=view_a, view_b=view_b, points_a=points_a, points_b=points_b)
