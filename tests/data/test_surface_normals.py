"""Surface normals: the renderer's exact normals, the depth-derived ones, and how they are stored."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from probekit.data import open_dataset
from probekit.data.base import TargetSpec
from probekit.data.nyuv2 import nyu_intrinsics
from probekit.data.scenes.render import render_scene
from probekit.data.scenes.world import SceneConfig
from probekit.data.surface_normals import normals_from_depth, normals_target, valid_normals
from probekit.errors import DatasetError, StoreError
from probekit.features import ExtractConfig, extract
from probekit.features.store import FeatureStore, StoreLayout, StoreWriter
from tests.data import test_nyuv2

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


def _nyu_normals(tmp_path) -> np.ndarray:
    """normals.npy beside the miniature labeled .mat: a unit normal per pixel of every frame."""
    n, h, w = test_nyuv2.N, test_nyuv2.H, test_nyuv2.W
    normals = np.random.default_rng(0).normal(size=(n, h, w, 3)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    np.save(tmp_path / "normals.npy", normals)
    return normals


def test_nyu_without_a_normals_file_derives_them_from_depth(tmp_path):
    _, depth, _ = test_nyuv2.write_nyuv2(tmp_path)
    dataset = open_dataset("nyuv2", "train", str(tmp_path), image_size=(test_nyuv2.H, test_nyuv2.W))
    spec = dataset.targets["normals"]
    assert spec.shape == (test_nyuv2.H, test_nyuv2.W, 3) and spec.dtype == "float16"
    assert spec.attrs["source"].startswith("derived from depth and intrinsics") and "depths" in spec.attrs["source"]
    K = nyu_intrinsics(test_nyuv2.H, test_nyuv2.W)
    np.testing.assert_array_equal(dataset[1]["normals"], normals_from_depth(depth[2], K))  # MATLAB index 3
    assert valid_normals(dataset[1]["normals"]).any()


def test_nyu_reads_the_normals_file_masked_by_raw_depth(tmp_path):
    _, _, raw = test_nyuv2.write_nyuv2(tmp_path)
    normals = _nyu_normals(tmp_path)
    dataset = open_dataset("nyuv2", "test", str(tmp_path), image_size=(test_nyuv2.H, test_nyuv2.W))
    assert dataset.targets["normals"].attrs["source"] == "file: normals.npy"
    sample = dataset[1]  # MATLAB index 5
    np.testing.assert_array_equal(sample["normals"], normals[4] * (raw[4] > 0)[..., None])
    assert not valid_normals(sample["normals"][:3, :4]).any() and valid_normals(sample["normals"][3:]).all()


def test_nyu_normals_are_cut_to_the_image_window(tmp_path):
    _, _, raw = test_nyuv2.write_nyuv2(tmp_path)
    normals = _nyu_normals(tmp_path) * (raw > 0)[..., None]  # rawDepths' holes: rows :3, cols :4
    dataset = open_dataset("nyuv2", "train", str(tmp_path), image_size=(14, 14))  # square: the sides are cut
    assert dataset.targets["normals"].shape == (12, 12, 3)
    np.testing.assert_array_equal(dataset[0]["normals"], normals[0][:, 2:14])


def test_a_normals_file_of_another_shape_is_named(tmp_path):
    test_nyuv2.write_nyuv2(tmp_path)
    np.save(tmp_path / "normals.npy", np.zeros((2, test_nyuv2.H, test_nyuv2.W, 3), np.float32))
    with pytest.raises(DatasetError, match=r"normals.npy holds \(2, 12, 16, 3\), not \(5, 12, 16, 3\)"):
        open_dataset("nyuv2", "train", str(tmp_path), image_size=(test_nyuv2.H, test_nyuv2.W))


def test_extract_stores_the_nyu_normals_with_their_source(tmp_path):
    _, _, raw = test_nyuv2.write_nyuv2(tmp_path)
    normals = _nyu_normals(tmp_path)
    config = ExtractConfig(
        backbone="test-dinov2",
        random_init=True,
        dataset="nyuv2-raw",
        root=str(tmp_path),
        split="test",
        image_size=(42, 56),
        batch_size=2,
        workers=0,
    )
    store = FeatureStore(extract(config, tmp_path / "store.h5", progress=False))
    assert store.target_attrs("normals")["source"] == "file: normals.npy"
    stored = store.read_target("normals", 0, 2)
    assert stored.dtype == np.float16
    want = normals[[1, 4]] * (raw[[1, 4]] > 0)[..., None]  # the test split: MATLAB indices 2 and 5
    np.testing.assert_allclose(stored, want, atol=1e-3)  # float16 keeps ~3 decimals


def test_a_partial_store_started_without_a_target_is_refused_on_resume(tmp_path):
    targets = {"depth": TargetSpec((4, 4), "float32")}
    layout = StoreLayout(4, [11], (1, 1), 2, "float32", targets, resizable=False)
    writer = StoreWriter(tmp_path / "s.h5", layout, {"backbone": "fake"}, resume_key="k")
    writer.file.close()  # interrupted before any row
    with_normals = StoreLayout(4, [11], (1, 1), 2, "float32", {**targets, "normals": normals_target((4, 4), "test")})
    with pytest.raises(StoreError, match=r"started without the target\(s\) normals.*--overwrite"):
        StoreWriter(tmp_path / "s.h5", with_normals, {"backbone": "fake"}, resume_key="k")
