"""Scene sampling: the generator's knobs (SceneConfig) and, from a seed, the whole scene description
(objects on the floor, room, light, fog and the two cameras of a pair).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from probekit.data.scenes.geometry import SHAPES, Camera, _look_at
from probekit.data.scenes.materials import (
    _FLOOR_TEXTURES,
    _WALL_TEXTURES,
    CLASS_TABLE,
    ROOM_TEXTURES,
    TEXTURES,
    TexParams,
    _class_colours,
    _hsv,
)
from probekit.errors import DatasetError

_FOG_VALUE = (0.7, 0.95)  # brightness range of the fog colour
_TINT = (0.97, 1.03)  # per-channel light colour range


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
            raise DatasetError(f"synthetic objects {self.min_objects}..{self.max_objects}; need 1 <= min <= max <= 32")
        if not 0 <= self.pair_yaw_deg[0] <= self.pair_yaw_deg[1] <= 180:
            raise DatasetError(f"synthetic pair_yaw_deg {self.pair_yaw_deg}; need 0 <= low <= high <= 180")
        object.__setattr__(self, "fog_distance", tuple(float(v) for v in self.fog_distance))
        if not 0 < self.fog_distance[0] <= self.fog_distance[1]:
            raise DatasetError(f"synthetic fog_distance {self.fog_distance}; need 0 < low <= high")
        if not 0 <= self.fog_probability <= 1:
            raise DatasetError(f"synthetic fog_probability {self.fog_probability}; need 0..1")


DEFAULT_CONFIG = SceneConfig()  # the standard benchmark's scenes (the default of every renderer)


@dataclass(frozen=True, eq=False)
class _Object:
    """A primitive resting on the floor. `half` = local half extents (sphere r,r,r; cylinder r,h/2,r)."""

    shape: str
    class_id: int
    center: tuple[float, float, float]
    half: tuple[float, float, float]
    yaw: float  # rotation about the vertical axis (box orientation, texture orientation)
    texture: str
    tex_params: TexParams
    colours: np.ndarray  # (2, 3) float32 albedos blended by the texture pattern


@dataclass(frozen=True, eq=False)
class _Room:
    """Axis-aligned room interior [lo, hi]; textures of floor, walls and ceiling, or open sky."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    has_ceiling: bool
    floor: tuple[str, TexParams]
    wall: tuple[str, TexParams]
    ceiling: tuple[str, TexParams]
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


def _desaturate(params: TexParams, factor: float) -> TexParams:
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
        lo=(float(lo[0]), float(lo[1]), float(lo[2])),
        hi=(float(hi[0]), float(hi[1]), float(hi[2])),
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
