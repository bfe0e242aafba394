"""Surface normals: the renderer's exact normals, the depth-derived ones, and how they are stored."""

from __future__ import annotations

import hashlib

import numpy as np

from probekit.data.scenes.render import render_scene
from probekit.data.scenes.world import SceneConfig
from probekit.data.surface_normals import normals_from_depth, valid_normals

VIEW_SHA256 = "0615b4eefc018bd63c2e7b9786eb3aca00e516feca7b86b3513463d25370031d"  # at ff7cd67, before normals
K = np.array([[60.0, 0.0, 32.0], [0.0, 60.0, 24.0], [0.0, 0.0, 1.0]])


def _angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.clip((a.astype(np.float64) * b.astype(np.float64)).sum(-1), -1.0, 1.0)
    return np.degrees(np.arccos(cos))


def test_rendered_normals_are_unit_face_the_camera_and_zero_on_sky():
    config = SceneConfig(image_size=(48, 64))
    for seed in range(4):
        s = render_scene(seed, config)
        assert s.normals.shape == (48, 64, 3) and s.normals.dtype == np.float32
        valid = valid_normals(s.normals)
        np.testing.assert_array_equal(valid, s.depth > 0)  # every surface pixel has one, sky none
        np.testing.assert_allclose(np.linalg.norm(s.normals[valid], axis=-1), 1.0, atol=1e-5)
        assert not s.normals[~valid].any()
        rows, cols = np.nonzero(valid)
        rays = np.stack([cols + 0.5, rows + 0.5, np.ones_like(cols)], -1) @ np.linalg.inv(s.camera.K).T  # (n, 3)
        assert ((s.normals[rows, cols] * rays).sum(-1) < 0).all()  # n . p < 0: facing the camera


def test_the_floor_points_up_in_the_camera_frame():
    s = render_scene(0, SceneConfig(image_size=(48, 64)))
    floor = s.mask == 0
    up_world = np.array([0.0, 1.0, 0.0]) @ s.camera.cam_to_world[:3, :3]  # R^T (0, 1, 0): world up, camera frame
    bottom = s.normals[-1][floor[-1]]  # the bottom row sees the floor (the camera looks down on it)
    assert len(bottom) and (_angles(bottom, up_world[None]) < 1e-3).all()


def test_rendering_the_normals_leaves_image_depth_and_mask_as_they_were():
    """The sha256 of seed 3's view as rendered before normals existed: the existing targets are unchanged."""
    s = render_scene(3, SceneConfig(image_size=(32, 40)))
    assert hashlib.sha256(s.image.tobytes() + s.mask.tobytes() + s.depth.tobytes()).hexdigest() == VIEW_SHA256


def test_derived_normals_of_a_plane_are_its_normal():
    h, w = 48, 64
    normal = np.array([0.3, -0.5, -0.8]) / np.linalg.norm([0.3, -0.5, -0.8])  # facing the camera
    x, y = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    rays = np.stack([x, y, np.ones((h, w))], -1) @ np.linalg.inv(K).T  # (H, W, 3), unit z
    depth = -2.0 / (rays @ normal)  # the plane n . p = -2 along each ray: p = z * ray
    derived = normals_from_depth(depth, K)
    inner = derived[1:-1, 1:-1]
    assert valid_normals(inner).all() and not valid_normals(derived[0]).any()  # borders are invalid
    assert _angles(inner, normal[None, None]).max() < 1e-4


def test_derived_normals_are_invalid_at_holes_and_discontinuities():
    depth = np.full((10, 12), 2.0)
    depth[4, 5] = 0.0  # a hole
    depth[:, 9:] = 4.0  # an occluding edge between columns 8 and 9
    valid = valid_normals(normals_from_depth(depth, K))
    assert not valid[4, 4:7].any() and not valid[3:6, 5].any()  # the hole and its four neighbours
    assert not valid[:, 8:10].any() and valid[2, 2] and valid[2, 10]


def test_derived_normals_agree_with_the_rendered_ones():
    config = SceneConfig(image_size=(96, 128))
    errors, kept = [], []
    for seed in range(3):
        s = render_scene(seed, config)
        derived = normals_from_depth(s.depth, s.camera.K)
        both = valid_normals(derived) & valid_normals(s.normals)
        kept.append(both.sum() / valid_normals(s.normals).sum())
        errors.append(_angles(derived[both], s.normals[both]))
    error = np.concatenate(errors)
    assert np.median(error) < 0.1 and (error < 11.25).mean() > 0.9 and min(kept) > 0.8
