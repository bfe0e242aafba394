"""The renderer: vectorised ray casting of one view into RGB, z-depth, the semantic mask and the label."""

from __future__ import annotations

import functools
import math
import statistics
from dataclasses import dataclass

import numpy as np

from probekit.data.scenes.geometry import (
    _CEILING,
    _FACES,
    _FLOOR,
    SHAPES,
    Camera,
    Vec3,
    _bbox_corners,
    _camera_rays,
    _intersect_room,
    _local,
    _rot_y,
    _screen_rect,
    _shadow_corners,
)
from probekit.data.scenes.materials import ROOM_TEXTURES, TEXTURES, _blend
from probekit.data.scenes.world import DEFAULT_CONFIG, SceneConfig, _Object, _Room, _sample_world, _World

_ROOM_ID = 100  # instance ids: objects 0..n-1, room faces _ROOM_ID + face, sky -1
_SKY_ID = -1


@dataclass(frozen=True, eq=False)
class SceneSample:
    """One rendered view: image (H, W, 3) uint8, depth (H, W) float32 z-depth in metres (0 = sky),
    mask (H, W) uint8 (0 background, 1..C object classes), scene label in [0, C), camera, and normals
    (H, W, 3) float32: the exact unit surface normal of each pixel in the OpenCV camera frame (x right,
    y down, z forward), facing the camera; (0, 0, 0) on sky."""

    image: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    label: int
    camera: Camera
    normals: np.ndarray


def _shade_object(
    obj: _Object, p: Vec3, light: tuple[float, float, float], world_to_cam: np.ndarray, normals: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Albedo (n, 3) and cosine n.l (n,) at world hit points p on the object; writes the unit normals in
    the camera frame (`world_to_cam` (3, 3) rotates world vectors into it) into `normals` (n, 3)."""
    pl = _local(obj, p)
    n = SHAPES[obj.shape].normal(pl, obj.half)
    lx, lz = _rot_y(light[0], light[2], -obj.yaw)
    ndotl = n[0] * lx + n[1] * light[1] + n[2] * lz
    c, s = math.cos(obj.yaw), math.sin(obj.yaw)
    local_to_cam = world_to_cam @ np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]], dtype=np.float32)  # (3, 3): R^T yaw
    if obj.shape == "sphere":  # p / r is unit only to ~1e-4 (box and cylinder normals are exact)
        inv_norm = np.float32(1.0) / np.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2])
        n = (n[0] * inv_norm, n[1] * inv_norm, n[2] * inv_norm)
    for a in range(3):
        normals[:, a] = local_to_cam[a, 0] * n[0] + local_to_cam[a, 1] * n[1] + local_to_cam[a, 2] * n[2]
    weight = TEXTURES[obj.texture].evaluate(pl, n, obj.tex_params)
    return _blend(obj.colours, weight), ndotl


def _shade_room_face(
    room: _Room, face: int, p: Vec3, light: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Albedo (n, 3) and cosine n.l (n,) at world hit points p on one room face."""
    u_axis, v_axis, normal = _FACES[face]
    name, prm = {_FLOOR: room.floor, _CEILING: room.ceiling}.get(face, room.wall)
    albedo = ROOM_TEXTURES[name].evaluate(p[u_axis], p[v_axis], prm)
    ndotl = sum(normal[k] * light[k] for k in range(3))
    return albedo, np.full(len(albedo), ndotl, dtype=np.float32)


def _cast_shadows(world: _World, camera: Camera, p: Vec3, ids: np.ndarray, lit: np.ndarray) -> None:
    """Clear `lit` (H, W) bool where a ray towards the light hits another object."""
    h, w = ids.shape
    light = tuple(np.float32(x) for x in world.light)
    for k, obj in enumerate(world.objects):
        rect = _screen_rect(camera, _shadow_corners(obj, world.light), h, w)
        if rect is None:
            continue
        y0, y1, x0, x1 = rect
        sel = lit[y0:y1, x0:x1] & (ids[y0:y1, x0:x1] != k)  # (h', w')
        ii, jj = np.nonzero(sel)
        if len(ii) == 0:
            continue
        o = tuple(p[a][y0:y1, x0:x1][ii, jj] + light[a] * np.float32(1e-3) for a in range(3))
        hit = np.isfinite(SHAPES[obj.shape].intersect(obj, o, light))
        lit[y0 + ii[hit], x0 + jj[hit]] = False


def _surface_groups(ids: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Sort pixels by surface id so each surface is one contiguous slice: pixel order (H*W,) and
    (id, start, stop) per surface present. Shading then runs on contiguous slices, which is much
    cheaper than one boolean mask over the whole image per surface."""
    flat = ids.ravel()
    order = np.argsort(flat, kind="stable")
    counts = np.bincount(flat.astype(np.intp) - _SKY_ID)
    stops = np.cumsum(counts)
    return order, [
        (g + _SKY_ID, int(e - c), int(e)) for g, (c, e) in enumerate(zip(counts, stops, strict=True)) if c > 0
    ]


@functools.lru_cache(maxsize=4)
def _gaussian_table(sigma: float) -> np.ndarray:
    """256 Gaussian quantiles times sigma: a uint8 index into it gives cheap Gaussian noise."""
    normal = statistics.NormalDist(0.0, sigma)
    return np.array([normal.inv_cdf((k + 0.5) / 256) for k in range(256)], dtype=np.float32)


def _pixel_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Approximately Gaussian noise (quantised inverse CDF of random bytes), 4x cheaper than
    rng.standard_normal."""
    size = int(np.prod(shape))
    return _gaussian_table(float(sigma))[np.frombuffer(rng.bytes(size), dtype=np.uint8)].reshape(shape)


def _transmittance(world: _World, camera: Camera, depth: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Share of the surface colour that survives the fog, exp(-distance along the ray / fog distance),
    per pixel (H*W,) float32 in `order`. The ray direction K^-1 (x, y, 1) has unit z, so the distance
    is z-depth x |K^-1 (x, y, 1)| (rotations keep lengths; K has no skew), separable in x and y."""
    h, w = depth.shape
    k = camera.K
    kx = (np.arange(w, dtype=np.float32) + np.float32(0.5 - k[0, 2])) * np.float32(1.0 / k[0, 0])
    ky = (np.arange(h, dtype=np.float32) + np.float32(0.5 - k[1, 2])) * np.float32(1.0 / k[1, 1])
    scale = np.sqrt((ky * ky)[:, None] + (kx * kx + np.float32(1.0))[None, :])  # (H, W)
    scale *= np.float32(-1.0 / world.fog_distance)
    scale *= depth
    transmittance: np.ndarray = np.exp(np.take(scale.ravel(), order))
    return transmittance


def _render_view(
    world: _World, camera: Camera, config: SceneConfig, noise_rng: np.random.Generator
) -> tuple[SceneSample, np.ndarray]:
    """Ray cast one view: the sample and the instance id map (H, W) int16 used for matching."""
    h, w = config.image_size
    eye, d = _camera_rays(camera, h, w)
    depth, face = _intersect_room(world.room, eye, d)  # (H, W)
    ids = face + np.int16(_ROOM_ID)
    if not world.room.has_ceiling:
        ids[face == _CEILING] = _SKY_ID
    for k, obj in enumerate(world.objects):  # z-buffer the objects within their screen rectangles
        rect = _screen_rect(camera, _bbox_corners(obj), h, w)
        if rect is None:
            continue
        y0, y1, x0, x1 = rect
        t = SHAPES[obj.shape].intersect(obj, eye, tuple(c[y0:y1, x0:x1] for c in d))
        closer = t < depth[y0:y1, x0:x1]
        depth[y0:y1, x0:x1][closer] = t[closer]
        ids[y0:y1, x0:x1][closer] = k
    p = tuple(eye[a] + depth * d[a] for a in range(3))  # (H, W) each: world hit points

    order, groups = _surface_groups(ids)
    p_sorted = tuple(np.take(c.ravel(), order) for c in p)  # (H*W,) each, surfaces contiguous
    albedo = np.zeros((h * w, 3), dtype=np.float32)  # in sorted order
    ndotl = np.zeros(h * w, dtype=np.float32)  # in sorted order
    normals = np.zeros((h * w, 3), dtype=np.float32)  # in sorted order, camera frame; sky stays 0
    world_to_cam = camera.cam_to_world[:3, :3].T.astype(np.float32)  # (3, 3): R^T
    px, py, pz = p_sorted
    for gid, start, stop in groups:
        if gid == _SKY_ID:
            continue
        pts = (px[start:stop], py[start:stop], pz[start:stop])
        if gid < _ROOM_ID:
            obj = world.objects[gid]
            albedo[start:stop], ndotl[start:stop] = _shade_object(
                obj, pts, world.light, world_to_cam, normals[start:stop]
            )
        else:
            albedo[start:stop], ndotl[start:stop] = _shade_room_face(world.room, gid - _ROOM_ID, pts, world.light)
            normals[start:stop] = world_to_cam @ np.asarray(_FACES[gid - _ROOM_ID][2], dtype=np.float32)

    lit_sorted = np.empty(h * w, dtype=bool)
    lit_sorted[order] = ndotl > 0
    lit = lit_sorted.reshape(h, w)
    if config.shadows:
        _cast_shadows(world, camera, p, ids, lit)
    shade = world.ambient + world.diffuse * np.where(np.take(lit.ravel(), order), ndotl, np.float32(0))
    # Aerial perspective: colour = lerp(surface, fog, 1 - transmittance), transmittance =
    # exp(-distance along the ray / fog distance); sky pixels use where the ray leaves the room.
    # Only RGB changes, depth stays the rendered geometry.
    transmittance = _transmittance(world, camera, depth, order) if math.isfinite(world.fog_distance) else None
    if transmittance is not None:
        shade *= transmittance
    colour = albedo * shade[:, None] * (world.tint * 255.0)  # (H*W, 3), sorted order
    if groups[0][0] == _SKY_ID:  # sky pixels come first: colour by elevation, depth invalid
        sky = order[: groups[0][2]]
        dirs = tuple(c.ravel()[sky] for c in d)
        elevation = dirs[1] / np.sqrt(dirs[0] * dirs[0] + dirs[1] * dirs[1] + dirs[2] * dirs[2])
        colour[: len(sky)] = _blend(world.room.sky * 255.0, np.clip(elevation, 0, 1) ** 0.6)
        if transmittance is not None:
            colour[: len(sky)] *= transmittance[: len(sky), None]
        depth.ravel()[sky] = 0
    if transmittance is not None:
        colour += np.multiply.outer(np.float32(1.0) - transmittance, world.fog * np.float32(255.0))
    inverse = np.empty_like(order)
    inverse[order] = np.arange(h * w)
    colour = np.take(colour, inverse, axis=0).reshape(h, w, 3)  # back to pixel order
    normal_map = np.take(normals, inverse, axis=0).reshape(h, w, 3)  # back to pixel order
    if config.noise_sigma > 0:
        colour += _pixel_noise(noise_rng, colour.shape, config.noise_sigma)
    image = np.clip(colour + 0.5, 0, 255).astype(np.uint8)

    class_lut = np.zeros(_ROOM_ID + 6 - _SKY_ID, dtype=np.uint8)  # mask label per id - _SKY_ID
    class_lut[-_SKY_ID : len(world.objects) - _SKY_ID] = [o.class_id + 1 for o in world.objects]
    mask = class_lut[ids - _SKY_ID]
    sample = SceneSample(
        image=image, depth=depth.astype(np.float32), mask=mask, label=world.label, camera=camera, normals=normal_map
    )
    return sample, ids


def _noise_rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    """Independent streams for view a's noise, view b's noise and the match sampling."""
    streams = np.random.SeedSequence(seed).spawn(4)[1:]
    return tuple(np.random.default_rng(s) for s in streams)  # type: ignore[return-value]


def render_scene(seed: int, config: SceneConfig = DEFAULT_CONFIG) -> SceneSample:
    """Render the scene for `seed` (deterministic; equals render_pair(seed, config).view_a)."""
    world = _sample_world(seed, config)
    noise_a, _, _ = _noise_rngs(seed)
    return _render_view(world, world.camera_a, config, noise_a)[0]
