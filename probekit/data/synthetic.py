"""Procedural 3-D scenes rendered by vectorised numpy ray casting: probekit's embedded dataset.

Every scene is a room (floor, walls, ceiling or open sky) holding a few textured primitives
(spheres, boxes, vertical cylinders) lit by a directional light with cast shadows. Rendering is
deterministic from an integer seed and needs no downloads. One render yields an RGB image,
metric z-depth, a semantic mask, a scene class label and the pinhole camera, so one dataset
serves classification, semantic segmentation, monocular depth and (via `render_pair`)
two-view correspondence probes.

Difficulty by design: a class is identified only by its (shape, texture) combination; every
texture family is used by two shapes and every shape carries two texture families. Colour is a
partial cue: class k draws its hues from a band centred at k / C with half-width 1 / C, so every
hue is shared by two neighbouring classes and narrows the class down without deciding it. Sizes
come from overlapping ranges. Depth is partly readable from pixels through aerial perspective
(per-scene fog that grows with distance) besides perspective and size; fog changes only RGB.

Conventions (see datasets/synthetic/README.md):
- World: metres, y up, floor is the plane y = 0, objects cluster around the origin.
- Camera frame (OpenCV): x right, y down, z forward. `cam_to_world` maps camera to world.
- Pixels: continuous xy with x right, y down; the image's top-left corner is (0, 0), so pixel
  (row i, col j) covers [j, j+1) x [i, i+1) and its centre is (j + 0.5, i + 0.5). The principal
  point is the image centre (W/2, H/2). depth[i, j] belongs to the ray through that centre;
  look up the pixel containing xy as (floor(y), floor(x)).
- depth: z-depth (along the optical axis) in metres, 0 = invalid (sky).
- mask: 0 = background (floor, walls, ceiling, sky), k = object class k - 1 (labels 1..C).
"""

from __future__ import annotations

import colorsys
import dataclasses
import functools
import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from probekit.errors import DatasetError

__all__ = [
    "CLASS_TABLE",
    "SPLIT_SIZES",
    "Camera",
    "SceneConfig",
    "ScenePair",
    "SceneSample",
    "SyntheticScenes",
    "class_hue_band",
    "class_names",
    "render_pair",
    "render_scene",
]

# Semantic classes as (shape, texture family). The first 6, 9 or 12 entries are balanced:
# each shape carries the same number of texture families and each family spans that many shapes,
# so neither shape nor texture alone identifies a class.
CLASS_TABLE: tuple[tuple[str, str], ...] = (
    ("sphere", "stripes"),
    ("sphere", "checker"),
    ("box", "checker"),
    ("box", "dots"),
    ("cylinder", "dots"),
    ("cylinder", "stripes"),
    ("sphere", "dots"),
    ("box", "stripes"),
    ("cylinder", "checker"),
    ("sphere", "noise"),
    ("box", "noise"),
    ("cylinder", "noise"),
)

SPLIT_SIZES: dict[str, int] = {"train": 512, "val": 128, "test": 128}
_SPLIT_CODES: dict[str, int] = {"train": 0, "val": 1, "test": 2}

_EPS = 1e-4  # metres: minimum ray distance, keeps shadow rays off their own surface
_ROOM_ID = 100  # instance ids: objects 0..n-1, room faces _ROOM_ID + face, sky -1
_SKY_ID = -1
_FLOOR, _CEILING = 2, 3  # room face index = 2 * axis + (0 for the low side, 1 for the high side)
_MATCH_REL_TOL = 0.02  # relative z-depth tolerance of the correspondence occlusion test
_FOG_VALUE = (0.7, 0.95)  # brightness range of the fog colour
_TINT = (0.97, 1.03)  # per-channel light colour range

Vec3 = tuple[Any, Any, Any]  # three float32 arrays (or Python floats) holding x, y, z


@dataclass(frozen=True)
class SceneConfig:
    """Knobs of the scene generator; defaults give the toolkit's standard benchmark."""

    image_size: tuple[int, int] = (224, 224)  # (H, W)
    num_classes: int = 6  # object classes; mask labels 1..num_classes, 0 = background
    min_objects: int = 3
    max_objects: int = 7
    fov_deg: tuple[float, float] = (45.0, 70.0)  # vertical field of view range
    camera_height: tuple[float, float] = (0.8, 2.0)  # metres above the floor
    pair_yaw_deg: tuple[float, float] = (15.0, 45.0)  # view change of render_pair around the cluster
    camera_distance: tuple[float, float] = (0.6, 0.9)  # x the distance that just frames the cluster
    background_saturation: float = 0.25  # chroma scale of floor/wall/ceiling colours (1 = as saturated as objects)
    fog_probability: float = 1.0  # chance that a scene has aerial perspective (fog); 0 disables it
    fog_distance: tuple[float, float] = (2.5, 12.0)  # metres, log-uniform: fog weight 1 - exp(-distance / this)
    sky_probability: float = 0.3  # chance that the room has no ceiling (sky pixels: depth 0)
    shadows: bool = True
    noise_sigma: float = 2.0  # Gaussian pixel noise in intensity levels

    def __post_init__(self) -> None:
        h, w = (int(v) for v in self.image_size)
        object.__setattr__(self, "image_size", (h, w))  # lists (e.g. from YAML) become a tuple
        if h < 8 or w < 8:
            raise DatasetError(f"synthetic image_size {self.image_size} is too small; use at least (8, 8)")
        if not 2 <= self.num_classes <= len(CLASS_TABLE):
            raise DatasetError(f"synthetic num_classes={self.num_classes}; use 2..{len(CLASS_TABLE)}")
        if not 1 <= self.min_objects <= self.max_objects <= 32:
            raise DatasetError(
                f"synthetic objects {self.min_objects}..{self.max_objects}; need 1 <= min <= max <= 32"
            )
        if not 0 <= self.pair_yaw_deg[0] <= self.pair_yaw_deg[1] <= 90:
            raise DatasetError(f"synthetic pair_yaw_deg {self.pair_yaw_deg}; need 0 <= low <= high <= 90")
        object.__setattr__(self, "fog_distance", tuple(float(v) for v in self.fog_distance))
        if not 0 < self.fog_distance[0] <= self.fog_distance[1]:
            raise DatasetError(f"synthetic fog_distance {self.fog_distance}; need 0 < low <= high")
        if not 0 <= self.fog_probability <= 1:
            raise DatasetError(f"synthetic fog_probability {self.fog_probability}; need 0..1")


@dataclass(frozen=True, eq=False)
class Camera:
    """Pinhole camera. K: (3, 3) intrinsics in pixel units (centre of pixel (i, j) at (j+.5, i+.5));
    cam_to_world: (4, 4) rigid transform of the OpenCV camera frame (x right, y down, z forward)."""

    K: np.ndarray
    cam_to_world: np.ndarray

    def project(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (N, 3) -> pixel xy (N, 2) and z-depth (N,). Points with z <= 0 are behind
        the camera: their xy is meaningless, filter them by z."""
        p = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
        rot, t = self.cam_to_world[:3, :3], self.cam_to_world[:3, 3]
        p_cam = (p - t) @ rot  # (N, 3) = R^T (p - t)
        z = p_cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uvw = p_cam @ self.K.T  # (N, 3)
            xy = uvw[:, :2] / z[:, None]
        return xy, z

    def unproject(self, xy: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Pixel xy (N, 2) and z-depth (N,) -> world points (N, 3)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        depth = np.asarray(depth, dtype=np.float64).reshape(-1)
        homog = np.concatenate([xy, np.ones((len(xy), 1))], axis=1)  # (N, 3)
        p_cam = (homog @ np.linalg.inv(self.K).T) * depth[:, None]  # (N, 3), z = depth
        return p_cam @ self.cam_to_world[:3, :3].T + self.cam_to_world[:3, 3]


@dataclass(frozen=True, eq=False)
class SceneSample:
    """One rendered view: image (H, W, 3) uint8, depth (H, W) float32 z-depth in metres (0 = sky),
    mask (H, W) uint8 (0 background, 1..C object classes), scene label in [0, C), camera."""

    image: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    label: int
    camera: Camera


@dataclass(frozen=True, eq=False)
class ScenePair:
    """Two views of one scene and M ground-truth correspondences: points_a[m] in view a and
    points_b[m] in view b (float32 pixel xy) image the same surface point, visible in both."""

    view_a: SceneSample
    view_b: SceneSample
    points_a: np.ndarray
    points_b: np.ndarray


# ----------------------------------------------------------------------------- scene description


@dataclass(frozen=True, eq=False)
class _Object:
    """A primitive resting on the floor. `half` = local half extents (sphere r,r,r; cylinder r,h/2,r)."""

    shape: str
    class_id: int
    center: tuple[float, float, float]
    half: tuple[float, float, float]
    yaw: float  # rotation about the vertical axis (box orientation, texture orientation)
    texture: str
    tex_params: dict
    colours: np.ndarray  # (2, 3) float32 albedos blended by the texture pattern


@dataclass(frozen=True, eq=False)
class _Room:
    """Axis-aligned room interior [lo, hi]; textures of floor, walls and ceiling, or open sky."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    has_ceiling: bool
    floor: tuple[str, dict]
    wall: tuple[str, dict]
    ceiling: tuple[str, dict]
    sky: np.ndarray  # (2, 3) horizon and zenith colours


@dataclass(frozen=True, eq=False)
class _World:
    """Everything about a scene except pixel noise: objects, room, light and both cameras."""

    objects: tuple[_Object, ...]
    room: _Room
    light: tuple[float, float, float]  # unit vector towards the light
    ambient: float
    diffuse: float
    tint: np.ndarray  # (3,) light colour
    fog: np.ndarray  # (3,) fog colour in [0, 1] (greyish)
    fog_distance: float  # metres; inf = no fog
    label: int
    camera_a: Camera
    camera_b: Camera


# ----------------------------------------------------------------------------- small helpers


def _rot_y(x: Any, z: Any, yaw: float) -> tuple[Any, Any]:
    """Rotate (x, z) about the vertical axis by yaw (local -> world; pass -yaw for world -> local)."""
    c, s = math.cos(yaw), math.sin(yaw)
    return c * x - s * z, s * x + c * z


def _frac(x: np.ndarray) -> np.ndarray:
    """Fractional part in [0, 1)."""
    return x - np.floor(x)


def _hash01(i: np.ndarray, j: np.ndarray, salt: int = 0) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer lattice cell (i, j)."""
    h = (i.astype(np.int32) * np.int32(73856093)) ^ (j.astype(np.int32) * np.int32(19349663)) ^ np.int32(salt)
    h = h * np.int32(1103515245) + np.int32(12345)
    return ((h >> 8) & 1023).astype(np.float32) / np.float32(1024.0)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """HSV in [0, 1] -> RGB (3,) float32."""
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _colour_pair(rng: np.random.Generator, contrast: tuple[float, float], hue_change: float = 0.5) -> np.ndarray:
    """Two room colours (any hue) whose brightness differs by `contrast`; with probability
    `hue_change` the second one also has another hue. Returns (2, 3)."""
    h, s, v = rng.uniform(0, 1), rng.uniform(0.15, 0.85), rng.uniform(0.3, 0.95)
    h2 = h + rng.uniform(0.1, 0.9) if rng.uniform() < hue_change else h + rng.uniform(-0.04, 0.04)
    s2 = float(np.clip(s + rng.uniform(-0.3, 0.3), 0.05, 0.95))
    dv = rng.uniform(*contrast)
    v2 = v - dv if v - dv >= 0.12 else v + dv
    return np.stack([_hsv(h, s, v), _hsv(h2, s2, min(v2, 1.0))])


def class_hue_band(class_id: int, num_classes: int) -> tuple[float, float]:
    """Hue interval (lo, hi) of object class `class_id`, on the hue circle [0, 1) (lo may be < 0):
    centred at class_id / C with half-width 1 / C, so each hue lies in the bands of two
    neighbouring classes."""
    centre, half = class_id / num_classes, 1.0 / num_classes
    return centre - half, centre + half


def _class_colours(rng: np.random.Generator, class_id: int, num_classes: int) -> np.ndarray:
    """The two texture colours (2, 3) of an object: both hues in the class band, the second one
    close to the first; saturation and value vary independently, with a clear value contrast."""
    lo, hi = class_hue_band(class_id, num_classes)
    h = rng.uniform(lo, hi)
    h2 = float(np.clip(h + rng.uniform(-0.05, 0.05), lo, hi))
    s, v = rng.uniform(0.5, 0.95), rng.uniform(0.35, 0.95)
    s2 = float(np.clip(s + rng.uniform(-0.25, 0.25), 0.35, 1.0))
    dv = rng.uniform(0.25, 0.55)
    v2 = v - dv if v - dv >= 0.15 else v + dv
    return np.stack([_hsv(h, s, v), _hsv(h2, s2, min(v2, 1.0))])


def _sine_noise(u: np.ndarray, v: np.ndarray, params: dict) -> np.ndarray:
    """Smooth 2-D noise in [-1, 1]: mean of a few random plane waves."""
    out = np.zeros_like(u)
    for (a, b), phase in zip(params["waves"], params["phases"]):
        out += np.sin(a * u + b * v + phase)
    return out * np.float32(1.0 / len(params["phases"]))


def _sample_waves(rng: np.random.Generator, count: int, freq: tuple[float, float]) -> dict:
    """Random plane waves for `_sine_noise`: angular frequencies in radians per metre."""
    angles = rng.uniform(0, 2 * math.pi, count)
    k = rng.uniform(*freq, count)
    waves = [(float(kk * math.cos(a)), float(kk * math.sin(a))) for kk, a in zip(k, angles)]
    return {"waves": waves, "phases": [float(p) for p in rng.uniform(0, 2 * math.pi, count)]}


def _random_unit(rng: np.random.Generator) -> tuple[float, float, float]:
    """Uniform random unit 3-vector."""
    v = rng.normal(size=3)
    v /= np.linalg.norm(v) + 1e-12
    return float(v[0]), float(v[1]), float(v[2])


def _dominant_axis(n: Vec3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks (n,) telling which axis the normal n is closest to."""
    ax, ay, az = np.abs(n[0]), np.abs(n[1]), np.abs(n[2])
    is_x = (ax >= ay) & (ax >= az)
    is_y = ~is_x & (ay >= az)
    return is_x, is_y, ~is_x & ~is_y


# ----------------------------------------------------------------------------- object shapes
# Intersections take origins o (floats or arrays) and directions d (arrays) in world space and
# return the ray parameter t of the nearest hit beyond _EPS, inf on a miss. Directions need not
# be unit length. Normals take local hit points (origin = object centre, yaw removed).


def _intersect_sphere(obj: _Object, o: Vec3, d: Vec3) -> np.ndarray:
    """Ray-sphere: nearest root of |o + t d - c|^2 = r^2."""
    ox, oy, oz = o[0] - obj.center[0], o[1] - obj.center[1], o[2] - obj.center[2]
    a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    b = ox * d[0] + oy * d[1] + oz * d[2]
    c = ox * ox + oy * oy + oz * oz - obj.half[0] ** 2
    disc = b * b - a * c
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / a
    return np.where((disc >= 0) & (t > _EPS), t, np.inf)


def _intersect_box(obj: _Object, o: Vec3, d: Vec3) -> np.ndarray:
    """Ray-box (rotated about y): slab test in the box frame."""
    ox, oz = _rot_y(o[0] - obj.center[0], o[2] - obj.center[2], -obj.yaw)
    dx, dz = _rot_y(d[0], d[2], -obj.yaw)
    t_near, t_far = None, None
    with np.errstate(divide="ignore", invalid="ignore"):
        for oo, dd, h in ((ox, dx, obj.half[0]), (o[1] - obj.center[1], d[1], obj.half[1]), (oz, dz, obj.half[2])):
            inv = 1.0 / dd
            t1, t2 = (-h - oo) * inv, (h - oo) * inv
            lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
            t_near = lo if t_near is None else np.maximum(t_near, lo)
            t_far = hi if t_far is None else np.minimum(t_far, hi)
    return np.where((t_far >= t_near) & (t_near > _EPS), t_near, np.inf)


def _intersect_cylinder(obj: _Object, o: Vec3, d: Vec3) -> np.ndarray:
    """Ray-cylinder (vertical axis): side quadric limited in height, plus the top cap disc.
    The bottom cap lies on the floor and is never seen, so it is not tested."""
    ox, oy, oz = o[0] - obj.center[0], o[1] - obj.center[1], o[2] - obj.center[2]
    r, hy = obj.half[0], obj.half[1]
    a = d[0] * d[0] + d[2] * d[2]
    b = ox * d[0] + oz * d[2]
    c = ox * ox + oz * oz - r * r
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t_side = (-b - np.sqrt(disc)) / a
        y_side = oy + t_side * d[1]
        t_side = np.where((disc >= 0) & (np.abs(y_side) <= hy) & (t_side > _EPS), t_side, np.inf)
        t_cap = (hy - oy) / d[1]
        cx, cz = ox + t_cap * d[0], oz + t_cap * d[2]
        t_cap = np.where((cx * cx + cz * cz <= r * r) & (t_cap > _EPS), t_cap, np.inf)
    return np.minimum(t_side, t_cap)


def _normal_sphere(p: Vec3, half: tuple[float, float, float]) -> Vec3:
    """Sphere normal = p / r."""
    inv_r = 1.0 / half[0]
    return p[0] * inv_r, p[1] * inv_r, p[2] * inv_r


def _normal_box(p: Vec3, half: tuple[float, float, float]) -> Vec3:
    """Box normal: the axis where the point is relatively closest to a face."""
    q = (p[0] * (1.0 / half[0]), p[1] * (1.0 / half[1]), p[2] * (1.0 / half[2]))
    is_x, is_y, is_z = _dominant_axis(q)
    one = np.float32(1.0)
    return (
        np.where(is_x, np.copysign(one, q[0]), 0).astype(np.float32),
        np.where(is_y, np.copysign(one, q[1]), 0).astype(np.float32),
        np.where(is_z, np.copysign(one, q[2]), 0).astype(np.float32),
    )


def _normal_cylinder(p: Vec3, half: tuple[float, float, float]) -> Vec3:
    """Cylinder normal: up on the cap, radial on the side (whichever surface is nearer)."""
    radial = np.sqrt(p[0] * p[0] + p[2] * p[2])
    cap = (half[1] - p[1]) < (half[0] - radial)
    inv = 1.0 / np.maximum(radial, 1e-6)
    return (
        np.where(cap, 0, p[0] * inv).astype(np.float32),
        cap.astype(np.float32),
        np.where(cap, 0, p[2] * inv).astype(np.float32),
    )


def _sample_sphere(rng: np.random.Generator) -> tuple[float, float, float]:
    r = float(rng.uniform(0.22, 0.48))
    return r, r, r


def _sample_box(rng: np.random.Generator) -> tuple[float, float, float]:
    return float(rng.uniform(0.17, 0.42)), float(rng.uniform(0.15, 0.42)), float(rng.uniform(0.17, 0.42))


def _sample_cylinder(rng: np.random.Generator) -> tuple[float, float, float]:
    r = float(rng.uniform(0.15, 0.36))
    return r, float(rng.uniform(0.18, 0.5)), r


@dataclass(frozen=True)
class _Shape:
    """A primitive family: size sampler, ray intersection and surface normal."""

    sample_half: Callable[[np.random.Generator], tuple[float, float, float]]
    intersect: Callable[[_Object, Vec3, Vec3], np.ndarray]
    normal: Callable[[Vec3, tuple[float, float, float]], Vec3]


SHAPES: dict[str, _Shape] = {
    "sphere": _Shape(_sample_sphere, _intersect_sphere, _normal_sphere),
    "box": _Shape(_sample_box, _intersect_box, _normal_box),
    "cylinder": _Shape(_sample_cylinder, _intersect_cylinder, _normal_cylinder),
}


# ----------------------------------------------------------------------------- object textures
# Solid textures over object-local coordinates (metres, yaw removed): they stick to the surface and
# look the same from any viewpoint. Each returns the blend weight (n,) between the two colours.


def _tex_stripes(p: Vec3, n: Vec3, prm: dict) -> np.ndarray:
    """Parallel bands: slabs of a random plane orientation."""
    a, b, c = prm["axis"]
    s = (p[0] * a + p[1] * b + p[2] * c) * prm["freq"] + prm["phase"]
    return (_frac(s) < 0.5).astype(np.float32)


def _tex_checker(p: Vec3, n: Vec3, prm: dict) -> np.ndarray:
    """3-D checkerboard aligned with the object axes (a 2-D checker on every box face)."""
    f, ph = prm["freq"], prm["phase"]
    cells = np.floor(p[0] * f + ph[0]) + np.floor(p[1] * f + ph[1]) + np.floor(p[2] * f + ph[2])
    return (cells.astype(np.int32) & 1).astype(np.float32)


def _tex_dots(p: Vec3, n: Vec3, prm: dict) -> np.ndarray:
    """Polka dots on a lattice, projected along the dominant normal axis (triplanar)."""
    f, ph = prm["freq"], prm["phase"]
    q = [_frac(p[k] * f + ph[k]) - 0.5 for k in range(3)]
    sq = [qk * qk for qk in q]
    is_x, is_y, _ = _dominant_axis(n)
    d2 = sq[0] + sq[1] + sq[2] - np.where(is_x, sq[0], np.where(is_y, sq[1], sq[2]))
    return (d2 < prm["radius"] ** 2).astype(np.float32)


def _tex_noise(p: Vec3, n: Vec3, prm: dict) -> np.ndarray:
    """Camouflage blobs: thresholded sum of random 3-D plane waves."""
    s = np.zeros_like(p[0])
    for (a, b, c), phase in zip(prm["waves"], prm["phases"]):
        s += np.sin(p[0] * a + p[1] * b + p[2] * c + phase)
    return (s > 0).astype(np.float32)


def _params_stripes(rng: np.random.Generator, size: float) -> dict:
    return {"axis": _random_unit(rng), "freq": float(rng.uniform(2.0, 3.5) / size), "phase": float(rng.uniform())}


def _params_checker(rng: np.random.Generator, size: float) -> dict:
    return {"freq": float(rng.uniform(1.8, 3.0) / size), "phase": tuple(float(x) for x in rng.uniform(0, 1, 3))}


def _params_dots(rng: np.random.Generator, size: float) -> dict:
    return {
        "freq": float(rng.uniform(2.0, 3.2) / size),
        "phase": tuple(float(x) for x in rng.uniform(0, 1, 3)),
        "radius": float(rng.uniform(0.25, 0.36)),
    }


def _params_noise(rng: np.random.Generator, size: float) -> dict:
    waves = [tuple(float(k) * float(rng.uniform(6.0, 10.0) / size) for k in _random_unit(rng)) for _ in range(3)]
    return {"waves": waves, "phases": [float(x) for x in rng.uniform(0, 2 * math.pi, 3)]}


@dataclass(frozen=True)
class _Texture:
    """An object texture family: parameter sampler (rng, object size) and evaluator."""

    sample: Callable[[np.random.Generator, float], dict]
    evaluate: Callable[[Vec3, Vec3, dict], np.ndarray]


TEXTURES: dict[str, _Texture] = {
    "stripes": _Texture(_params_stripes, _tex_stripes),
    "checker": _Texture(_params_checker, _tex_checker),
    "dots": _Texture(_params_dots, _tex_dots),
    "noise": _Texture(_params_noise, _tex_noise),
}


# ----------------------------------------------------------------------------- room textures
# Evaluated on 2-D surface coordinates (u, v) in metres; return albedo (n, 3).


def _blend(colours: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mix two colours (2, 3) by weight w (n,) -> (n, 3)."""
    return colours[0] + (colours[1] - colours[0]) * w[:, None]


def _room_tiles(u: np.ndarray, v: np.ndarray, prm: dict) -> np.ndarray:
    """Square tiles with grout lines, per-tile brightness jitter, optionally two-tone."""
    su, sv = u * prm["inv_size"], v * prm["inv_size"]
    iu, iv = np.floor(su), np.floor(sv)
    grout = (_frac(su) < prm["grout"]) | (_frac(sv) < prm["grout"])
    tone = ((iu + iv).astype(np.int32) & 1).astype(np.float32) * prm["two_tone"]
    jitter = 1.0 + prm["jitter"] * (_hash01(iu, iv) - 0.5)
    albedo = _blend(prm["colours"], tone * 0.6) * jitter[:, None]
    return np.where(grout[:, None], prm["colours"][1] * 0.55, albedo)


def _room_planks(u: np.ndarray, v: np.ndarray, prm: dict) -> np.ndarray:
    """Wooden planks: rows with staggered ends, per-plank tone and fine grain."""
    along, across = (u, v) if prm["along_u"] else (v, u)
    row = np.floor(across * prm["inv_width"])
    pos = along * prm["inv_length"] + _hash01(row, row, 7)
    seam = (_frac(across * prm["inv_width"]) < 0.06) | (_frac(pos) < 0.015)
    tone = _hash01(row, np.floor(pos), 3)
    grain = 0.06 * np.sin(across * prm["grain"] + 3.0 * np.sin(along * 1.3))
    albedo = _blend(prm["colours"], tone) * (1.0 + grain)[:, None]
    return np.where(seam[:, None], albedo * 0.6, albedo)


def _room_plaster(u: np.ndarray, v: np.ndarray, prm: dict) -> np.ndarray:
    """Plaster / concrete: smooth low-contrast mottling."""
    return _blend(prm["colours"], 0.5 + 0.5 * _sine_noise(u, v, prm))


def _room_wallpaper(u: np.ndarray, v: np.ndarray, prm: dict) -> np.ndarray:
    """Vertical wallpaper stripes."""
    return _blend(prm["colours"], (_frac(u * prm["inv_width"]) < prm["duty"]).astype(np.float32))


def _room_bricks(u: np.ndarray, v: np.ndarray, prm: dict) -> np.ndarray:
    """Running-bond bricks with mortar joints and per-brick tone."""
    row = np.floor(v * prm["inv_h"])
    su = u * prm["inv_w"] + 0.5 * (row.astype(np.int32) & 1)
    col = np.floor(su)
    mortar = (_frac(v * prm["inv_h"]) < 0.1) | (_frac(su) < 0.05)
    albedo = prm["colours"][0] * (1.0 + prm["jitter"] * (_hash01(row, col, 11) - 0.5))[:, None]
    return np.where(mortar[:, None], prm["colours"][1], albedo)


def _params_tiles(rng: np.random.Generator) -> dict:
    return {
        "colours": _colour_pair(rng, (0.15, 0.4), 0.2),
        "inv_size": float(1.0 / rng.uniform(0.35, 0.8)),
        "grout": float(rng.uniform(0.03, 0.08)),
        "two_tone": float(rng.uniform() < 0.4),
        "jitter": float(rng.uniform(0.0, 0.15)),
    }


def _params_planks(rng: np.random.Generator) -> dict:
    return {
        "colours": _colour_pair(rng, (0.05, 0.2), 0.2),
        "along_u": bool(rng.uniform() < 0.5),
        "inv_width": float(1.0 / rng.uniform(0.15, 0.35)),
        "inv_length": float(1.0 / rng.uniform(0.8, 2.0)),
        "grain": float(rng.uniform(15.0, 30.0)),
    }


def _params_plaster(rng: np.random.Generator) -> dict:
    return {"colours": _colour_pair(rng, (0.04, 0.15), 0.2), **_sample_waves(rng, 4, (1.0, 6.0))}


def _params_wallpaper(rng: np.random.Generator) -> dict:
    return {
        "colours": _colour_pair(rng, (0.05, 0.25), 0.2),
        "inv_width": float(1.0 / rng.uniform(0.2, 0.6)),
        "duty": float(rng.uniform(0.2, 0.6)),
    }


def _params_bricks(rng: np.random.Generator) -> dict:
    return {
        "colours": _colour_pair(rng, (0.1, 0.35), 0.2),
        "inv_w": float(1.0 / rng.uniform(0.35, 0.6)),
        "inv_h": float(1.0 / rng.uniform(0.15, 0.28)),
        "jitter": float(rng.uniform(0.05, 0.25)),
    }


@dataclass(frozen=True)
class _RoomTexture:
    """A room surface texture: parameter sampler and evaluator."""

    sample: Callable[[np.random.Generator], dict]
    evaluate: Callable[[np.ndarray, np.ndarray, dict], np.ndarray]


ROOM_TEXTURES: dict[str, _RoomTexture] = {
    "tiles": _RoomTexture(_params_tiles, _room_tiles),
    "planks": _RoomTexture(_params_planks, _room_planks),
    "plaster": _RoomTexture(_params_plaster, _room_plaster),
    "wallpaper": _RoomTexture(_params_wallpaper, _room_wallpaper),
    "bricks": _RoomTexture(_params_bricks, _room_bricks),
}
_FLOOR_TEXTURES = ("tiles", "planks", "plaster")
_WALL_TEXTURES = ("plaster", "wallpaper", "bricks")

# Room face index -> (u axis, v axis, inward normal); face = 2 * axis + side (0 low, 1 high).
_FACES: tuple[tuple[int, int, tuple[float, float, float]], ...] = (
    (2, 1, (1.0, 0.0, 0.0)),
    (2, 1, (-1.0, 0.0, 0.0)),
    (0, 2, (0.0, 1.0, 0.0)),
    (0, 2, (0.0, -1.0, 0.0)),
    (0, 1, (0.0, 0.0, 1.0)),
    (0, 1, (0.0, 0.0, -1.0)),
)


# ----------------------------------------------------------------------------- scene sampling


def class_names(num_classes: int = 6) -> list[str]:
    """Names of the first `num_classes` classes, e.g. 'sphere_stripes'."""
    return [f"{shape}_{texture}" for shape, texture in CLASS_TABLE[:num_classes]]


def _sample_classes(rng: np.random.Generator, config: SceneConfig) -> tuple[int, list[int]]:
    """Scene label and per-object classes: a strict majority of the label class plus distractors."""
    n = int(rng.integers(config.min_objects, config.max_objects + 1))
    label = int(rng.integers(config.num_classes))
    n_dominant = n // 2 + 1
    others = rng.integers(1, config.num_classes, n - n_dominant)  # offsets != 0 mod C
    classes = [label] * n_dominant + [int((label + k) % config.num_classes) for k in others]
    return label, [classes[i] for i in rng.permutation(n)]


def _place_objects(rng: np.random.Generator, config: SceneConfig) -> tuple[int, tuple[_Object, ...], float]:
    """Sample objects and place them on the floor around the origin without overlap.
    Returns (label, objects, cluster radius)."""
    label, classes = _sample_classes(rng, config)
    radius = 0.75 * math.sqrt(len(classes)) * rng.uniform(0.85, 1.15)
    placed: list[tuple[float, float, float]] = []  # (x, z, footprint radius)
    objects = []
    for class_id in classes:
        shape, texture = CLASS_TABLE[class_id]
        half = SHAPES[shape].sample_half(rng)
        foot = math.hypot(half[0], half[2])
        yaw = float(rng.uniform(0, 2 * math.pi))
        for attempt in range(60):  # rejection sampling; the disc grows if it is crowded
            grow = 1.0 + 0.02 * attempt
            rr, phi = radius * grow * math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi)
            x, z = rr * math.cos(phi), rr * math.sin(phi)
            if all(math.hypot(x - px, z - pz) >= foot + pf + 0.05 for px, pz, pf in placed):
                break
        placed.append((x, z, foot))
        size = (half[0] + half[1] + half[2]) / 3.0
        objects.append(
            _Object(
                shape=shape,
                class_id=class_id,
                center=(float(x), half[1], float(z)),
                half=half,
                yaw=yaw,
                texture=texture,
                tex_params=TEXTURES[texture].sample(rng, size),
                colours=_class_colours(rng, class_id, config.num_classes),
            )
        )
    return label, tuple(objects), max(radius, max(math.hypot(x, z) + f for x, z, f in placed))


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """cam_to_world (4, 4) for an OpenCV camera at eye looking at target, no roll."""
    fwd = target - eye
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, down, fwd, eye
    return pose


def _sample_camera(
    rng: np.random.Generator, config: SceneConfig, cluster: float, azimuth: float, fov_deg: float
) -> Camera:
    """Camera on a circle around the cluster at `azimuth` (0 = looking along +z), framing it."""
    h, w = config.image_size
    focal = 0.5 * h / math.tan(math.radians(fov_deg) / 2)
    half_view = math.atan(0.5 * min(h, w) / focal)
    dist = max((cluster + 0.25) / math.tan(half_view) * rng.uniform(*config.camera_distance), cluster + 1.0)
    height = rng.uniform(*config.camera_height)
    eye = np.array([-dist * math.sin(azimuth), height, -dist * math.cos(azimuth)])
    target = np.array([0.0, rng.uniform(0.15, 0.5), 0.0])
    target += np.array([math.cos(azimuth), 0.0, -math.sin(azimuth)]) * rng.uniform(-0.1, 0.1) * dist  # yaw jitter
    target[1] += rng.uniform(-0.06, 0.06) * dist  # pitch jitter
    K = np.array([[focal, 0.0, w / 2], [0.0, focal, h / 2], [0.0, 0.0, 1.0]])
    return Camera(K=K, cam_to_world=_look_at(eye, target))


def _desaturate(params: dict, factor: float) -> dict:
    """Room texture params with their colours' chroma scaled by `factor` (towards grey)."""
    colours = params["colours"]
    grey = colours.mean(axis=1, keepdims=True)  # (2, 1)
    return {**params, "colours": (grey + (colours - grey) * np.float32(factor)).astype(np.float32)}


def _sample_room(rng: np.random.Generator, config: SceneConfig, cluster: float, eyes: list[np.ndarray]) -> _Room:
    """Room box around the cluster enclosing both cameras; random surface textures."""
    xs, ys, zs = [e[0] for e in eyes], [e[1] for e in eyes], [e[2] for e in eyes]
    lo = (
        min(-rng.uniform(3.0, 5.5), min(xs) - 0.5, -cluster - 0.8),
        0.0,
        min(-rng.uniform(3.0, 6.0), min(zs) - 0.5),
    )
    hi = (
        max(rng.uniform(3.0, 5.5), max(xs) + 0.5, cluster + 0.8),
        max(rng.uniform(2.6, 3.6), max(ys) + 0.4),
        max(cluster + rng.uniform(0.8, 3.5), max(zs) + 0.5),
    )
    floor_name = _FLOOR_TEXTURES[int(rng.integers(len(_FLOOR_TEXTURES)))]
    wall_name = _WALL_TEXTURES[int(rng.integers(len(_WALL_TEXTURES)))]
    horizon = _hsv(rng.uniform(0.5, 0.7), rng.uniform(0.05, 0.3), rng.uniform(0.75, 1.0))
    zenith = _hsv(rng.uniform(0.55, 0.68), rng.uniform(0.3, 0.7), rng.uniform(0.55, 0.9))
    return _Room(
        lo=tuple(float(v) for v in lo),
        hi=tuple(float(v) for v in hi),
        has_ceiling=bool(rng.uniform() >= config.sky_probability),
        floor=(floor_name, _desaturate(ROOM_TEXTURES[floor_name].sample(rng), config.background_saturation)),
        wall=(wall_name, _desaturate(ROOM_TEXTURES[wall_name].sample(rng), config.background_saturation)),
        ceiling=("plaster", _desaturate(ROOM_TEXTURES["plaster"].sample(rng), config.background_saturation)),
        sky=np.stack([horizon, zenith]),
    )


def _sample_world(seed: int, config: SceneConfig) -> _World:
    """The whole scene for `seed`, including the second camera used by render_pair."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    label, objects, cluster = _place_objects(rng, config)
    az_a = rng.uniform(-math.radians(35), math.radians(35))
    delta = math.radians(rng.uniform(*config.pair_yaw_deg))
    az_b = az_a + delta if rng.uniform() < 0.5 else az_a - delta
    if abs(az_b) > math.radians(60):  # keep view b in front of the cluster: turn the other way
        az_b = 2 * az_a - az_b
    fov_a = rng.uniform(*config.fov_deg)
    fov_b = float(np.clip(fov_a * rng.uniform(0.9, 1.1), *config.fov_deg))
    cam_a = _sample_camera(rng, config, cluster, az_a, fov_a)
    cam_b = _sample_camera(rng, config, cluster, az_b, fov_b)
    room = _sample_room(rng, config, cluster, [cam_a.cam_to_world[:3, 3], cam_b.cam_to_world[:3, 3]])
    elevation, light_az = rng.uniform(math.radians(30), math.radians(70)), rng.uniform(0, 2 * math.pi)
    light = (
        math.cos(elevation) * math.sin(light_az),
        math.sin(elevation),
        math.cos(elevation) * math.cos(light_az),
    )
    ambient, diffuse = float(rng.uniform(0.3, 0.5)), float(rng.uniform(0.5, 0.75))
    tint = rng.uniform(*_TINT, 3).astype(np.float32)
    # Aerial perspective: a greyish fog of random brightness and density (sampled even when unused,
    # so that fog_probability does not shift the other draws).
    fog = _hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.04), rng.uniform(*_FOG_VALUE))
    lo, hi = config.fog_distance
    fog_distance = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    if rng.uniform() >= config.fog_probability:
        fog_distance = math.inf
    return _World(
        objects=objects,
        room=room,
        light=light,
        ambient=ambient,
        diffuse=diffuse,
        tint=tint,
        fog=np.clip(fog, 0, 1).astype(np.float32),
        fog_distance=fog_distance,
        label=label,
        camera_a=cam_a,
        camera_b=cam_b,
    )


# ----------------------------------------------------------------------------- rendering


@functools.lru_cache(maxsize=16)
def _pixel_centres(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates x = j + 0.5, y = i + 0.5 as read-only (H, W) float32 views."""
    x = np.broadcast_to(np.arange(w, dtype=np.float32) + np.float32(0.5), (h, w))
    y = np.broadcast_to((np.arange(h, dtype=np.float32) + np.float32(0.5))[:, None], (h, w))
    return x, y


def _camera_rays(camera: Camera, h: int, w: int) -> tuple[tuple[float, float, float], Vec3]:
    """Ray origin and per-pixel world directions d = R K^-1 (x, y, 1) (3 x (H, W) float32).
    d has unit camera-z component, so the ray parameter t of a hit is its z-depth."""
    x, y = _pixel_centres(h, w)
    k_inv = np.linalg.inv(camera.K)
    m = camera.cam_to_world[:3, :3] @ k_inv  # (3, 3): pixel homogeneous -> world direction
    d = tuple(float(m[k, 0]) * x + float(m[k, 1]) * y + float(m[k, 2]) for k in range(3))
    eye = tuple(float(c) for c in camera.cam_to_world[:3, 3])
    return eye, d  # type: ignore[return-value]


def _intersect_room(room: _Room, eye: tuple[float, float, float], d: Vec3) -> tuple[np.ndarray, np.ndarray]:
    """Exit of the rays from the room box (the eye is inside): t (H, W) and face index (H, W) int16."""
    ts, highs = [], []
    with np.errstate(divide="ignore"):
        for axis in range(3):
            inv = 1.0 / d[axis]  # d = 0 -> +-inf, so the max below is +inf: never the exit
            t_lo, t_hi = (room.lo[axis] - eye[axis]) * inv, (room.hi[axis] - eye[axis]) * inv
            ts.append(np.maximum(t_lo, t_hi))  # the positive one
            highs.append(t_hi > t_lo)
    x_first = (ts[0] <= ts[1]) & (ts[0] <= ts[2])
    y_first = ~x_first & (ts[1] <= ts[2])
    axis = np.where(x_first, 0, np.where(y_first, 1, 2)).astype(np.int16)  # (H, W)
    high = np.where(x_first, highs[0], np.where(y_first, highs[1], highs[2]))
    return np.minimum(np.minimum(ts[0], ts[1]), ts[2]), 2 * axis + high


def _screen_rect(camera: Camera, corners: np.ndarray, h: int, w: int) -> tuple[int, int, int, int] | None:
    """Pixel rectangle (y0, y1, x0, x1) covering the projection of points (N, 3); whole image if
    any point is behind the camera; None if it is off-screen."""
    xy, z = camera.project(corners)
    if np.any(z <= 1e-3):
        return 0, h, 0, w
    x0, y0 = np.floor(xy.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(xy.max(axis=0)).astype(int) + 1
    x0, x1, y0, y1 = max(x0, 0), min(x1, w), max(y0, 0), min(y1, h)
    return (y0, y1, x0, x1) if x0 < x1 and y0 < y1 else None


def _bbox_corners(obj: _Object) -> np.ndarray:
    """Corners (8, 3) of the object's world axis-aligned bounding box."""
    c, s = abs(math.cos(obj.yaw)), abs(math.sin(obj.yaw))
    ex = c * obj.half[0] + s * obj.half[2]
    ez = s * obj.half[0] + c * obj.half[2]
    signs = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], dtype=np.float64)
    return np.asarray(obj.center) + signs * np.array([ex, obj.half[1], ez])


def _shadow_corners(obj: _Object, light: tuple[float, float, float]) -> np.ndarray:
    """Corners (16, 3) whose hull holds the object's shadow volume down to the floor."""
    box = _bbox_corners(obj)
    lv = np.asarray(light)
    return np.concatenate([box, box - (box[:, 1:2] / lv[1]) * lv])


def _local(obj: _Object, p: Vec3) -> Vec3:
    """World points -> object frame (origin at the centre, yaw removed)."""
    x, z = _rot_y(p[0] - obj.center[0], p[2] - obj.center[2], -obj.yaw)
    return x, p[1] - obj.center[1], z


def _shade_object(obj: _Object, p: Vec3, light: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Albedo (n, 3) and cosine n.l (n,) at world hit points p on the object."""
    pl = _local(obj, p)
    n = SHAPES[obj.shape].normal(pl, obj.half)
    lx, lz = _rot_y(light[0], light[2], -obj.yaw)
    ndotl = n[0] * lx + n[1] * light[1] + n[2] * lz
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
    return order, [(g + _SKY_ID, int(e - c), int(e)) for g, (c, e) in enumerate(zip(counts, stops)) if c > 0]


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
    return np.exp(np.take(scale.ravel(), order))


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
    for gid, start, stop in groups:
        if gid == _SKY_ID:
            continue
        pts = tuple(c[start:stop] for c in p_sorted)
        if gid < _ROOM_ID:
            albedo[start:stop], ndotl[start:stop] = _shade_object(world.objects[gid], pts, world.light)
        else:
            albedo[start:stop], ndotl[start:stop] = _shade_room_face(world.room, gid - _ROOM_ID, pts, world.light)

    lit = np.empty(h * w, dtype=bool)
    lit[order] = ndotl > 0
    lit = lit.reshape(h, w)
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
    if config.noise_sigma > 0:
        colour += _pixel_noise(noise_rng, colour.shape, config.noise_sigma)
    image = np.clip(colour + 0.5, 0, 255).astype(np.uint8)

    class_lut = np.zeros(_ROOM_ID + 6 - _SKY_ID, dtype=np.uint8)  # mask label per id - _SKY_ID
    class_lut[-_SKY_ID : len(world.objects) - _SKY_ID] = [o.class_id + 1 for o in world.objects]
    mask = class_lut[ids - _SKY_ID]
    sample = SceneSample(image=image, depth=depth.astype(np.float32), mask=mask, label=world.label, camera=camera)
    return sample, ids


def _noise_rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    """Independent streams for view a's noise, view b's noise and the match sampling."""
    streams = np.random.SeedSequence(seed).spawn(4)[1:]
    return tuple(np.random.default_rng(s) for s in streams)  # type: ignore[return-value]


def render_scene(seed: int, config: SceneConfig = SceneConfig()) -> SceneSample:
    """Render the scene for `seed` (deterministic; equals render_pair(seed, config).view_a)."""
    world = _sample_world(seed, config)
    noise_a, _, _ = _noise_rngs(seed)
    return _render_view(world, world.camera_a, config, noise_a)[0]


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
    config: SceneConfig = SceneConfig(),
    num_points: int = 64,
    baseline_deg: tuple[float, float] | None = None,
) -> ScenePair:
    """Render the scene for `seed` from two cameras and sample up to `num_points` ground-truth
    correspondences (object points first, floor/wall points if too few). View b orbits the
    object cluster by a yaw in `baseline_deg` (default config.pair_yaw_deg) with its own distance,
    height and field of view."""
    if baseline_deg is not None:
        config = dataclasses.replace(config, pair_yaw_deg=tuple(baseline_deg))
    world = _sample_world(seed, config)
    noise_a, noise_b, match_rng = _noise_rngs(seed)
    view_a, ids_a = _render_view(world, world.camera_a, config, noise_a)
    view_b, ids_b = _render_view(world, world.camera_b, config, noise_b)
    points_a, points_b = _match(view_a, ids_a, view_b, ids_b, num_points, match_rng)
    return ScenePair(view_a=view_a, view_b=view_b, points_a=points_a, points_b=points_b)


# ----------------------------------------------------------------------------- dataset


class SyntheticScenes:
    """Map-style dataset of rendered scenes (no torch needed). Item `index` of `split` is rendered
    from a seed derived from (seed, split, index), so splits are disjoint and deterministic."""

    def __init__(
        self,
        split: str = "train",
        num_samples: int | None = None,
        config: SceneConfig = SceneConfig(),
        seed: int = 0,
    ) -> None:
        if split not in SPLIT_SIZES:
            raise DatasetError(f"synthetic split {split!r} is unknown; use one of {sorted(SPLIT_SIZES)}")
        size = SPLIT_SIZES[split] if num_samples is None else int(num_samples)
        if size < 0:
            raise DatasetError(f"synthetic num_samples={num_samples} is negative; use >= 0")
        self.split, self.config, self.seed, self._size = split, config, int(seed), size

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def class_names(self) -> list[str]:
        return class_names(self.config.num_classes)

    @property
    def mask_class_names(self) -> list[str]:
        """Names of mask labels 0..C: 'background' then the object classes."""
        return ["background", *self.class_names]

    def __len__(self) -> int:
        return self._size

    def _index(self, index: int) -> int:
        """Normalise a (possibly negative) index, IndexError when out of range."""
        if not -self._size <= index < self._size:
            raise IndexError(f"index {index} out of range for synthetic {self.split} split of {self._size}")
        return index % self._size

    def sample_seed(self, index: int) -> int:
        """The render seed of item `index`."""
        entropy = [self.seed, _SPLIT_CODES[self.split], self._index(index)]
        return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])

    def scene(self, index: int) -> SceneSample:
        """Item `index` as a SceneSample."""
        return render_scene(self.sample_seed(index), self.config)

    def __getitem__(self, index: int) -> dict:
        index = self._index(index)
        s = self.scene(index)
        return {
            "id": f"synthetic-{self.split}-{index:06d}",
            "image": s.image,
            "label": s.label,
            "mask": s.mask,
            "depth": s.depth,
            "camera_K": s.camera.K.astype(np.float32),
            "cam_to_world": s.camera.cam_to_world.astype(np.float32),
        }
