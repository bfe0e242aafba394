"""Tests of the procedural synthetic scenes: determinism, formats, camera/depth geometry, pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from probekit.data import synthetic as syn
from probekit.data.synthetic import (
    Camera,
    SceneConfig,
    SyntheticScenes,
    render_pair,
    render_scene,
)
from probekit.errors import DatasetError

SEEDS = range(12)


def _pixel_centres(h: int, w: int) -> np.ndarray:
    """All pixel centres (H*W, 2) in row-major order: (j + 0.5, i + 0.5)."""
    ii, jj = np.mgrid[:h, :w]
    return np.stack([jj.ravel() + 0.5, ii.ravel() + 0.5], axis=1)


# ----------------------------------------------------------------------------- determinism


def test_same_seed_is_byte_identical():
    a, b = render_scene(7), render_scene(7)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.depth.tobytes() == b.depth.tobytes()
    assert a.mask.tobytes() == b.mask.tobytes()
    assert a.label == b.label
    np.testing.assert_array_equal(a.camera.K, b.camera.K)
    np.testing.assert_array_equal(a.camera.cam_to_world, b.camera.cam_to_world)


def test_rendering_does_not_touch_global_rng():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    render_scene(3)
    assert np.random.rand() == expected


def test_different_seeds_differ():
    a, b = render_scene(1), render_scene(2)
    assert a.image.tobytes() != b.image.tobytes()
    assert a.depth.tobytes() != b.depth.tobytes()


def test_dataset_items_deterministic_and_splits_differ():
    train, train2 = SyntheticScenes("train", num_samples=3), SyntheticScenes("train", num_samples=3)
    val = SyntheticScenes("val", num_samples=3)
    other_seed = SyntheticScenes("train", num_samples=3, seed=1)
    t, t2, v, o = train[0], train2[0], val[0], other_seed[0]
    assert t["id"] == t2["id"] == "synthetic-train-000000"
    assert v["id"] == "synthetic-val-000000"
    assert t["image"].tobytes() == t2["image"].tobytes()
    assert t["image"].tobytes() != v["image"].tobytes()
    assert t["image"].tobytes() != o["image"].tobytes()
    assert t["image"].tobytes() != train[1]["image"].tobytes()
    seeds = {SyntheticScenes(split).sample_seed(i) for split in ("train", "val", "test") for i in range(100)}
    assert len(seeds) == 300


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize("size", [(224, 224), (160, 224), (56, 84), (96, 64)])
def test_shapes_and_dtypes(size):
    s = render_scene(5, SceneConfig(image_size=size))
    h, w = size
    assert s.image.shape == (h, w, 3) and s.image.dtype == np.uint8
    assert s.depth.shape == (h, w) and s.depth.dtype == np.float32
    assert s.mask.shape == (h, w) and s.mask.dtype == np.uint8
    assert isinstance(s.label, int) and 0 <= s.label < 6
    assert s.camera.K.shape == (3, 3) and s.camera.K.dtype == np.float64
    assert s.camera.cam_to_world.shape == (4, 4) and s.camera.cam_to_world.dtype == np.float64
    np.testing.assert_allclose(s.camera.K[:2, 2], [w / 2, h / 2])  # principal point = image centre
    assert s.mask.max() <= 6


def test_dataset_item_format():
    ds = SyntheticScenes("test", num_samples=2, config=SceneConfig(image_size=(64, 96)))
    assert len(ds) == 2
    item = ds[-1]
    assert item["id"] == "synthetic-test-000001"
    assert item["image"].shape == (64, 96, 3) and item["image"].dtype == np.uint8
    assert item["mask"].shape == (64, 96) and item["mask"].dtype == np.uint8
    assert item["depth"].shape == (64, 96) and item["depth"].dtype == np.float32
    assert item["camera_K"].shape == (3, 3) and item["camera_K"].dtype == np.float32
    assert item["cam_to_world"].shape == (4, 4) and item["cam_to_world"].dtype == np.float32
    assert isinstance(item["label"], int)
    assert ds.num_classes == 6
    assert ds.mask_class_names[0] == "background" and ds.mask_class_names[1:] == ds.class_names
    assert len(set(ds.class_names)) == 6
    with pytest.raises(IndexError):
        ds[2]


def test_default_split_sizes():
    assert [len(SyntheticScenes(s)) for s in ("train", "val", "test")] == [512, 128, 128]


def test_bad_arguments_raise_dataset_error():
    with pytest.raises(DatasetError):
        SyntheticScenes("training")
    with pytest.raises(DatasetError):
        SceneConfig(num_classes=len(syn.CLASS_TABLE) + 1)
    with pytest.raises(DatasetError):
        SceneConfig(min_objects=5, max_objects=4)


def test_more_classes_use_more_mask_labels():
    config = SceneConfig(num_classes=12, image_size=(64, 64))
    labels = {render_scene(s, config).label for s in range(40)}
    assert max(labels) >= 6  # classes beyond the default six occur
    assert all(render_scene(s, config).mask.max() <= 12 for s in range(5))


# ----------------------------------------------------------------------------- camera


def test_camera_frame_is_a_rotation_looking_down_at_the_scene():
    for seed in SEEDS:
        pose = render_scene(seed, SceneConfig(image_size=(32, 32))).camera.cam_to_world
        rot = pose[:3, :3]
        np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-9)
        assert np.linalg.det(rot) == pytest.approx(1.0)
        assert rot[1, 1] < 0  # camera y (down) points down in the world (y up)
        assert 0.8 <= pose[1, 3] <= 2.0  # camera height above the floor


def test_project_unproject_round_trip():
    cam = render_scene(4).camera
    rng = np.random.default_rng(0)
    xy = rng.uniform([0, 0], [224, 224], size=(100, 2))
    z = rng.uniform(0.5, 10.0, size=100)
    world = cam.unproject(xy, z)
    xy2, z2 = cam.project(world)
    np.testing.assert_allclose(xy2, xy, atol=1e-9)
    np.testing.assert_allclose(z2, z, rtol=1e-12)
    np.testing.assert_allclose(cam.unproject(xy2, z2), world, atol=1e-9)


def test_camera_principal_ray_and_pixel_convention():
    cam = Camera(K=np.array([[100.0, 0, 32], [0, 100.0, 24], [0, 0, 1]]), cam_to_world=np.eye(4))
    xy, z = cam.project(np.array([[0.0, 0.0, 2.0], [0.2, -0.1, 1.0]]))
    np.testing.assert_allclose(xy, [[32, 24], [52, 14]])  # x right, y down
    np.testing.assert_allclose(z, [2.0, 1.0])


# ----------------------------------------------------------------------------- depth


def test_depth_valid_and_positive():
    for seed in SEEDS:
        s = render_scene(seed)
        valid = s.depth > 0
        assert np.all(np.isfinite(s.depth))
        assert valid.mean() > 0.5
        assert np.all(s.mask[~valid] == 0)  # only the sky is invalid
        assert s.depth[valid].min() > 0.1 and s.depth.max() < 50


def test_bottom_centre_floor_pixels_unproject_to_the_floor():
    for seed in SEEDS:
        s = render_scene(seed)
        h, w = s.depth.shape
        rows, cols = np.mgrid[h - 3 : h, w // 3 : 2 * w // 3]
        rows, cols = rows.ravel(), cols.ravel()
        keep = s.mask[rows, cols] == 0  # background, i.e. floor at the bottom of the image
        xy = np.stack([cols[keep] + 0.5, rows[keep] + 0.5], axis=1)
        world = s.camera.unproject(xy, s.depth[rows[keep], cols[keep]])
        np.testing.assert_allclose(world[:, 1], 0.0, atol=1e-3)


def _surface_distance(world: syn._World, ids: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance (N,) of world points to the surface their instance id names (internal ids)."""
    out = np.full(len(points), np.inf)
    room_lo, room_hi = np.array(world.room.lo), np.array(world.room.hi)
    for k, obj in enumerate(world.objects):
        sel = ids == k
        p = points[sel] - np.array(obj.center)
        c, s = math.cos(-obj.yaw), math.sin(-obj.yaw)
        x, y, z = c * p[:, 0] - s * p[:, 2], p[:, 1], s * p[:, 0] + c * p[:, 2]
        half = obj.half
        sdf = {
            "sphere": lambda: np.sqrt(x * x + y * y + z * z) - half[0],
            "box": lambda: np.max(np.abs(np.stack([x, y, z], 1)) - np.array(half), axis=1),
            "cylinder": lambda: np.maximum(np.sqrt(x * x + z * z) - half[0], np.abs(y) - half[1]),
        }[obj.shape]()
        out[sel] = np.abs(sdf)
    for face in range(6):
        sel = ids == syn._ROOM_ID + face
        axis, high = divmod(face, 2)
        plane = (room_hi if high else room_lo)[axis]
        out[sel] = np.abs(points[sel, axis] - plane)
    return out


def test_every_pixel_unprojects_onto_its_surface():
    """Uses the renderer's internal instance ids: objects by signed distance, room faces by plane."""
    for seed in SEEDS:
        config = SceneConfig(image_size=(120, 160))
        world = syn._sample_world(seed, config)
        sample, ids = syn._render_view(world, world.camera_a, config, np.random.default_rng(0))
        valid = sample.depth.ravel() > 0
        np.testing.assert_array_equal(valid, ids.ravel() != syn._SKY_ID)
        xy = _pixel_centres(120, 160)[valid]
        points = sample.camera.unproject(xy, sample.depth.ravel()[valid])
        dist = _surface_distance(world, ids.ravel()[valid], points)
        assert np.all(dist < 1e-3 * np.maximum(sample.depth.ravel()[valid], 1.0))
        assert np.all(points[:, 1] > -1e-3)  # nothing below the floor


def test_objects_rest_on_the_floor_without_overlap():
    for seed in SEEDS:
        world = syn._sample_world(seed, SceneConfig())
        for obj in world.objects:
            assert obj.center[1] == pytest.approx(obj.half[1])
        feet = [(o.center[0], o.center[2], math.hypot(o.half[0], o.half[2])) for o in world.objects]
        for i, (xi, zi, ri) in enumerate(feet):
            for xj, zj, rj in feet[i + 1 :]:
                assert math.hypot(xi - xj, zi - zj) >= ri + rj


# ----------------------------------------------------------------------------- labels


def test_label_is_the_majority_class():
    config = SceneConfig()
    for seed in range(40):
        world = syn._sample_world(seed, config)
        classes = [o.class_id for o in world.objects]
        counts = np.bincount(classes, minlength=config.num_classes)
        assert counts[world.label] > len(classes) / 2
        assert config.min_objects <= len(classes) <= config.max_objects


def test_label_class_is_visible():
    visible = [s.label + 1 in np.unique(s.mask) for s in (render_scene(seed) for seed in range(30))]
    assert np.mean(visible) >= 0.9


def test_labels_cover_all_classes():
    labels = [render_scene(seed, SceneConfig(image_size=(32, 32))).label for seed in range(60)]
    assert set(labels) == set(range(6))


# ----------------------------------------------------------------------------- pairs


def test_pair_view_a_is_render_scene():
    pair, single = render_pair(9), render_scene(9)
    assert pair.view_a.image.tobytes() == single.image.tobytes()
    assert pair.view_a.depth.tobytes() == single.depth.tobytes()


def test_pair_correspondences_reproject():
    counts = []
    for seed in SEEDS:
        pair = render_pair(seed, num_points=64)
        a, b = pair.view_a, pair.view_b
        pa, pb = pair.points_a, pair.points_b
        assert pa.dtype == np.float32 and pb.dtype == np.float32 and pa.shape == pb.shape
        counts.append(len(pa))
        if len(pa) == 0:
            continue
        h, w = b.depth.shape
        np.testing.assert_array_equal(pa % 1, 0.5)  # pixel centres of view a
        ia, ja = pa[:, 1].astype(int), pa[:, 0].astype(int)
        world = a.camera.unproject(pa, a.depth[ia, ja])
        xy_b, z_b = b.camera.project(world)
        np.testing.assert_allclose(xy_b, pb, atol=1e-3)
        assert np.all((pb >= 0) & (pb < [w, h]))
        ib, jb = np.floor(pb[:, 1]).astype(int), np.floor(pb[:, 0]).astype(int)
        np.testing.assert_allclose(b.depth[ib, jb], z_b, rtol=0.02)  # visible in b (occlusion test)
        assert np.all(a.mask[ia, ja] == b.mask[ib, jb])
        assert np.median(np.linalg.norm(pa - pb, axis=1)) > 2.0  # the viewpoint changes
        assert np.mean(a.mask[ia, ja] > 0) > 0.5  # mostly object points
    assert np.mean(np.array(counts) == 64) >= 0.8


def test_pair_views_differ_and_baseline_grows():
    small, large = [], []
    for seed in range(6):
        for baseline, out in (((5.0, 5.0), small), ((40.0, 40.0), large)):
            pair = render_pair(seed, SceneConfig(image_size=(64, 64)), baseline_deg=baseline)
            ra, rb = pair.view_a.camera.cam_to_world[:3, :3], pair.view_b.camera.cam_to_world[:3, :3]
            out.append(math.degrees(math.acos(np.clip((np.trace(ra.T @ rb) - 1) / 2, -1, 1))))
    assert np.mean(large) > np.mean(small) + 10
