"""Geometry of the synthetic scenes: the pinhole camera, primitives (sphere, box, cylinder) with their
ray intersections, normals and sizes, the room box, camera rays and screen-space bounds.

Conventions are those of probekit.data.synthetic (world y up, OpenCV camera frame, pixel centres at +0.5).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

_EPS = 1e-4  # metres: minimum ray distance, keeps shadow rays off their own surface
_FLOOR, _CEILING = 2, 3  # room face index = 2 * axis + (0 for the low side, 1 for the high side)
Vec3 = tuple[Any, Any, Any]  # three float32 arrays (or Python floats) holding x, y, z


class Placed(Protocol):
    """What geometry needs of a scene object: where it stands and how it is sized and turned."""

    @property
    def center(self) -> tuple[float, float, float]: ...

    @property
    def half(self) -> tuple[float, float, float]: ...  # local half extents (sphere r,r,r; cylinder r,h/2,r)

    @property
    def yaw(self) -> float: ...  # rotation about the vertical axis


class RoomBox(Protocol):
    """What geometry needs of a room: its axis-aligned interior [lo, hi]."""

    @property
    def lo(self) -> tuple[float, float, float]: ...

    @property
    def hi(self) -> tuple[float, float, float]: ...


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
        world: np.ndarray = p_cam @ self.cam_to_world[:3, :3].T + self.cam_to_world[:3, 3]
        return world


def _rot_y(x: Any, z: Any, yaw: float) -> tuple[Any, Any]:
    """Rotate (x, z) about the vertical axis by yaw (local -> world; pass -yaw for world -> local)."""
    c, s = math.cos(yaw), math.sin(yaw)
    return c * x - s * z, s * x + c * z


def _dominant_axis(n: Vec3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks (n,) telling which axis the normal n is closest to."""
    ax, ay, az = np.abs(n[0]), np.abs(n[1]), np.abs(n[2])
    is_x = (ax >= ay) & (ax >= az)
    is_y = ~is_x & (ay >= az)
    return is_x, is_y, ~is_x & ~is_y


def _intersect_sphere(obj: Placed, o: Vec3, d: Vec3) -> np.ndarray:
    """Ray-sphere: nearest root of |o + t d - c|^2 = r^2."""
    ox, oy, oz = o[0] - obj.center[0], o[1] - obj.center[1], o[2] - obj.center[2]
    a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    b = ox * d[0] + oy * d[1] + oz * d[2]
    c = ox * ox + oy * oy + oz * oz - obj.half[0] ** 2
    disc = b * b - a * c
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / a
    return np.where((disc >= 0) & (t > _EPS), t, np.inf)


def _intersect_box(obj: Placed, o: Vec3, d: Vec3) -> np.ndarray:
    """Ray-box (rotated about y): slab test in the box frame."""
    ox, oz = _rot_y(o[0] - obj.center[0], o[2] - obj.center[2], -obj.yaw)
    dx, dz = _rot_y(d[0], d[2], -obj.yaw)
    t_near: np.ndarray | None = None
    t_far: np.ndarray | None = None
    with np.errstate(divide="ignore", invalid="ignore"):
        for oo, dd, h in ((ox, dx, obj.half[0]), (o[1] - obj.center[1], d[1], obj.half[1]), (oz, dz, obj.half[2])):
            inv = 1.0 / dd
            t1, t2 = (-h - oo) * inv, (h - oo) * inv
            lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
            t_near = lo if t_near is None else np.maximum(t_near, lo)
            t_far = hi if t_far is None else np.minimum(t_far, hi)
    assert t_near is not None and t_far is not None  # the loop ran over the three slabs
    return np.where((t_far >= t_near) & (t_near > _EPS), t_near, np.inf)


def _intersect_cylinder(obj: Placed, o: Vec3, d: Vec3) -> np.ndarray:
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
    intersect: Callable[[Placed, Vec3, Vec3], np.ndarray]
    normal: Callable[[Vec3, tuple[float, float, float]], Vec3]


SHAPES: dict[str, _Shape] = {
    "sphere": _Shape(_sample_sphere, _intersect_sphere, _normal_sphere),
    "box": _Shape(_sample_box, _intersect_box, _normal_box),
    "cylinder": _Shape(_sample_cylinder, _intersect_cylinder, _normal_cylinder),
}


# Room face index -> (u axis, v axis, inward normal); face = 2 * axis + side (0 low, 1 high).
_FACES: tuple[tuple[int, int, tuple[float, float, float]], ...] = (
    (2, 1, (1.0, 0.0, 0.0)),
    (2, 1, (-1.0, 0.0, 0.0)),
    (0, 2, (0.0, 1.0, 0.0)),
    (0, 2, (0.0, -1.0, 0.0)),
    (0, 1, (0.0, 0.0, 1.0)),
    (0, 1, (0.0, 0.0, -1.0)),
)


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


def _intersect_room(room: RoomBox, eye: tuple[float, float, float], d: Vec3) -> tuple[np.ndarray, np.ndarray]:
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
    exit_axis = np.where(x_first, 0, np.where(y_first, 1, 2)).astype(np.int16)  # (H, W)
    high = np.where(x_first, highs[0], np.where(y_first, highs[1], highs[2]))
    return np.minimum(np.minimum(ts[0], ts[1]), ts[2]), 2 * exit_axis + high


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


def _bbox_corners(obj: Placed) -> np.ndarray:
    """Corners (8, 3) of the object's world axis-aligned bounding box."""
    c, s = abs(math.cos(obj.yaw)), abs(math.sin(obj.yaw))
    ex = c * obj.half[0] + s * obj.half[2]
    ez = s * obj.half[0] + c * obj.half[2]
    signs = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], dtype=np.float64)
    corners: np.ndarray = np.asarray(obj.center) + signs * np.array([ex, obj.half[1], ez])
    return corners


def _shadow_corners(obj: Placed, light: tuple[float, float, float]) -> np.ndarray:
    """Corners (16, 3) whose hull holds the object's shadow volume down to the floor."""
    box = _bbox_corners(obj)
    lv = np.asarray(light)
    return np.concatenate([box, box - (box[:, 1:2] / lv[1]) * lv])


def _local(obj: Placed, p: Vec3) -> Vec3:
    """World points -> object frame (origin at the centre, yaw removed)."""
    x, z = _rot_y(p[0] - obj.center[0], p[2] - obj.center[2], -obj.yaw)
    return x, p[1] - obj.center[1], z
