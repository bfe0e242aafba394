"""Materials of the synthetic scenes: the classes (shape, texture family), their colours, and the
procedural textures of objects (stripes, checker, dots, noise) and of room faces.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from probekit.data.scenes.geometry import Vec3, _dominant_axis

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

# Sampled texture parameters by name (floats, tuples, colour arrays): each texture family has its own keys.
TexParams = dict[str, Any]


def _frac(x: np.ndarray) -> np.ndarray:
    """Fractional part in [0, 1)."""
    result: np.ndarray = x - np.floor(x)
    return result


def _hash01(i: np.ndarray, j: np.ndarray, salt: int = 0) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer lattice cell (i, j)."""
    h = (i.astype(np.int32) * np.int32(73856093)) ^ (j.astype(np.int32) * np.int32(19349663)) ^ np.int32(salt)
    h = h * np.int32(1103515245) + np.int32(12345)
    result: np.ndarray = ((h >> 8) & 1023).astype(np.float32) / np.float32(1024.0)
    return result


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


def _sine_noise(u: np.ndarray, v: np.ndarray, params: TexParams) -> np.ndarray:
    """Smooth 2-D noise in [-1, 1]: mean of a few random plane waves."""
    out = np.zeros_like(u)
    for (a, b), phase in zip(params["waves"], params["phases"], strict=True):
        out += np.sin(a * u + b * v + phase)
    result: np.ndarray = out * np.float32(1.0 / len(params["phases"]))
    return result


def _sample_waves(rng: np.random.Generator, count: int, freq: tuple[float, float]) -> TexParams:
    """Random plane waves for `_sine_noise`: angular frequencies in radians per metre."""
    angles = rng.uniform(0, 2 * math.pi, count)
    k = rng.uniform(*freq, count)
    waves = [(float(kk * math.cos(a)), float(kk * math.sin(a))) for kk, a in zip(k, angles, strict=True)]
    return {"waves": waves, "phases": [float(p) for p in rng.uniform(0, 2 * math.pi, count)]}


def _random_unit(rng: np.random.Generator) -> tuple[float, float, float]:
    """Uniform random unit 3-vector."""
    v = rng.normal(size=3)
    v /= np.linalg.norm(v) + 1e-12
    return float(v[0]), float(v[1]), float(v[2])


def _tex_stripes(p: Vec3, n: Vec3, prm: TexParams) -> np.ndarray:
    """Parallel bands: slabs of a random plane orientation."""
    a, b, c = prm["axis"]
    s = (p[0] * a + p[1] * b + p[2] * c) * prm["freq"] + prm["phase"]
    return (_frac(s) < 0.5).astype(np.float32)


def _tex_checker(p: Vec3, n: Vec3, prm: TexParams) -> np.ndarray:
    """3-D checkerboard aligned with the object axes (a 2-D checker on every box face)."""
    f, ph = prm["freq"], prm["phase"]
    cells = np.floor(p[0] * f + ph[0]) + np.floor(p[1] * f + ph[1]) + np.floor(p[2] * f + ph[2])
    result: np.ndarray = (cells.astype(np.int32) & 1).astype(np.float32)
    return result


def _tex_dots(p: Vec3, n: Vec3, prm: TexParams) -> np.ndarray:
    """Polka dots on a lattice, projected along the dominant normal axis (triplanar)."""
    f, ph = prm["freq"], prm["phase"]
    q = [_frac(p[k] * f + ph[k]) - 0.5 for k in range(3)]
    sq = [qk * qk for qk in q]
    is_x, is_y, _ = _dominant_axis(n)
    d2 = sq[0] + sq[1] + sq[2] - np.where(is_x, sq[0], np.where(is_y, sq[1], sq[2]))
    result: np.ndarray = (d2 < prm["radius"] ** 2).astype(np.float32)
    return result


def _tex_noise(p: Vec3, n: Vec3, prm: TexParams) -> np.ndarray:
    """Camouflage blobs: thresholded sum of random 3-D plane waves."""
    s = np.zeros_like(p[0])
    for (a, b, c), phase in zip(prm["waves"], prm["phases"], strict=True):
        s += np.sin(p[0] * a + p[1] * b + p[2] * c + phase)
    result: np.ndarray = (s > 0).astype(np.float32)
    return result


def _params_stripes(rng: np.random.Generator, size: float) -> TexParams:
    return {"axis": _random_unit(rng), "freq": float(rng.uniform(2.0, 3.5) / size), "phase": float(rng.uniform())}


def _params_checker(rng: np.random.Generator, size: float) -> TexParams:
    return {"freq": float(rng.uniform(1.8, 3.0) / size), "phase": tuple(float(x) for x in rng.uniform(0, 1, 3))}


def _params_dots(rng: np.random.Generator, size: float) -> TexParams:
    return {
        "freq": float(rng.uniform(2.0, 3.2) / size),
        "phase": tuple(float(x) for x in rng.uniform(0, 1, 3)),
        "radius": float(rng.uniform(0.25, 0.36)),
    }


def _params_noise(rng: np.random.Generator, size: float) -> TexParams:
    waves = [tuple(float(k) * float(rng.uniform(6.0, 10.0) / size) for k in _random_unit(rng)) for _ in range(3)]
    return {"waves": waves, "phases": [float(x) for x in rng.uniform(0, 2 * math.pi, 3)]}


@dataclass(frozen=True)
class _Texture:
    """An object texture family: parameter sampler (rng, object size) and evaluator."""

    sample: Callable[[np.random.Generator, float], TexParams]
    evaluate: Callable[[Vec3, Vec3, TexParams], np.ndarray]


TEXTURES: dict[str, _Texture] = {
    "stripes": _Texture(_params_stripes, _tex_stripes),
    "checker": _Texture(_params_checker, _tex_checker),
    "dots": _Texture(_params_dots, _tex_dots),
    "noise": _Texture(_params_noise, _tex_noise),
}


def _blend(colours: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mix two colours (2, 3) by weight w (n,) -> (n, 3)."""
    result: np.ndarray = colours[0] + (colours[1] - colours[0]) * w[:, None]
    return result


def _room_tiles(u: np.ndarray, v: np.ndarray, prm: TexParams) -> np.ndarray:
    """Square tiles with grout lines, per-tile brightness jitter, optionally two-tone."""
    su, sv = u * prm["inv_size"], v * prm["inv_size"]
    iu, iv = np.floor(su), np.floor(sv)
    grout = (_frac(su) < prm["grout"]) | (_frac(sv) < prm["grout"])
    tone = ((iu + iv).astype(np.int32) & 1).astype(np.float32) * prm["two_tone"]
    jitter = 1.0 + prm["jitter"] * (_hash01(iu, iv) - 0.5)
    albedo = _blend(prm["colours"], tone * 0.6) * jitter[:, None]
    result: np.ndarray = np.where(grout[:, None], prm["colours"][1] * 0.55, albedo)
    return result


def _room_planks(u: np.ndarray, v: np.ndarray, prm: TexParams) -> np.ndarray:
    """Wooden planks: rows with staggered ends, per-plank tone and fine grain."""
    along, across = (u, v) if prm["along_u"] else (v, u)
    row = np.floor(across * prm["inv_width"])
    pos = along * prm["inv_length"] + _hash01(row, row, 7)
    seam = (_frac(across * prm["inv_width"]) < 0.06) | (_frac(pos) < 0.015)
    tone = _hash01(row, np.floor(pos), 3)
    grain = 0.06 * np.sin(across * prm["grain"] + 3.0 * np.sin(along * 1.3))
    albedo = _blend(prm["colours"], tone) * (1.0 + grain)[:, None]
    result: np.ndarray = np.where(seam[:, None], albedo * 0.6, albedo)
    return result


def _room_plaster(u: np.ndarray, v: np.ndarray, prm: TexParams) -> np.ndarray:
    """Plaster / concrete: smooth low-contrast mottling."""
    return _blend(prm["colours"], 0.5 + 0.5 * _sine_noise(u, v, prm))


def _room_wallpaper(u: np.ndarray, v: np.ndarray, prm: TexParams) -> np.ndarray:
    """Vertical wallpaper stripes."""
    return _blend(prm["colours"], (_frac(u * prm["inv_width"]) < prm["duty"]).astype(np.float32))


def _room_bricks(u: np.ndarray, v: np.ndarray, prm: TexParams) -> np.ndarray:
    """Running-bond bricks with mortar joints and per-brick tone."""
    row = np.floor(v * prm["inv_h"])
    su = u * prm["inv_w"] + 0.5 * (row.astype(np.int32) & 1)
    col = np.floor(su)
    mortar = (_frac(v * prm["inv_h"]) < 0.1) | (_frac(su) < 0.05)
    albedo = prm["colours"][0] * (1.0 + prm["jitter"] * (_hash01(row, col, 11) - 0.5))[:, None]
    result: np.ndarray = np.where(mortar[:, None], prm["colours"][1], albedo)
    return result


def _params_tiles(rng: np.random.Generator) -> TexParams:
    return {
        "colours": _colour_pair(rng, (0.15, 0.4), 0.2),
        "inv_size": float(1.0 / rng.uniform(0.35, 0.8)),
        "grout": float(rng.uniform(0.03, 0.08)),
        "two_tone": float(rng.uniform() < 0.4),
        "jitter": float(rng.uniform(0.0, 0.15)),
    }


def _params_planks(rng: np.random.Generator) -> TexParams:
    return {
        "colours": _colour_pair(rng, (0.05, 0.2), 0.2),
        "along_u": bool(rng.uniform() < 0.5),
        "inv_width": float(1.0 / rng.uniform(0.15, 0.35)),
        "inv_length": float(1.0 / rng.uniform(0.8, 2.0)),
        "grain": float(rng.uniform(15.0, 30.0)),
    }


def _params_plaster(rng: np.random.Generator) -> TexParams:
    return {"colours": _colour_pair(rng, (0.04, 0.15), 0.2), **_sample_waves(rng, 4, (1.0, 6.0))}


def _params_wallpaper(rng: np.random.Generator) -> TexParams:
    return {
        "colours": _colour_pair(rng, (0.05, 0.25), 0.2),
        "inv_width": float(1.0 / rng.uniform(0.2, 0.6)),
        "duty": float(rng.uniform(0.2, 0.6)),
    }


def _params_bricks(rng: np.random.Generator) -> TexParams:
    return {
        "colours": _colour_pair(rng, (0.1, 0.35), 0.2),
        "inv_w": float(1.0 / rng.uniform(0.35, 0.6)),
        "inv_h": float(1.0 / rng.uniform(0.15, 0.28)),
        "jitter": float(rng.uniform(0.05, 0.25)),
    }


@dataclass(frozen=True)
class _RoomTexture:
    """A room surface texture: parameter sampler and evaluator."""

    sample: Callable[[np.random.Generator], TexParams]
    evaluate: Callable[[np.ndarray, np.ndarray, TexParams], np.ndarray]


ROOM_TEXTURES: dict[str, _RoomTexture] = {
    "tiles": _RoomTexture(_params_tiles, _room_tiles),
    "planks": _RoomTexture(_params_planks, _room_planks),
    "plaster": _RoomTexture(_params_plaster, _room_plaster),
    "wallpaper": _RoomTexture(_params_wallpaper, _room_wallpaper),
    "bricks": _RoomTexture(_params_bricks, _room_bricks),
}


_FLOOR_TEXTURES = ("tiles", "planks", "plaster")
_WALL_TEXTURES = ("plaster", "wallpaper", "bricks")


def class_names(num_classes: int = 6) -> list[str]:
    """Names of the first `num_classes` classes, e.g. 'sphere_stripes'."""
    return [f"{shape}_{texture}" for shape, texture in CLASS_TABLE[:num_classes]]
