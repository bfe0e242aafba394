"""Tests of the procedural synthetic scenes: determinism, formats, camera/depth geometry, pairs."""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pytest

from probekit.data import synthetic as syn
from probekit.data.scenes import render as scene_render
from probekit.data.scenes import world as scene_world
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


def _object_sdf(shape: str, x: np.ndarray, y: np.ndarray, z: np.ndarray, half: tuple[float, ...]) -> np.ndarray:
    """Signed distance (N,) of object-frame points to a sphere, box or cylinder of half-extents `half`."""
    if shape == "sphere":
        return np.sqrt(x * x + y * y + z * z) - half[0]
    if shape == "box":
        return np.max(np.abs(np.stack([x, y, z], 1)) - np.array(half), axis=1)
    if shape == "cylinder":
        return np.maximum(np.sqrt(x * x + z * z) - half[0], np.abs(y) - half[1])
    raise KeyError(shape)


def _surface_distance(world: scene_world._World, ids: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance (N,) of world points to the surface their instance id names (internal ids)."""
    out = np.full(len(points), np.inf)
    room_lo, room_hi = np.array(world.room.lo), np.array(world.room.hi)
    for k, obj in enumerate(world.objects):
        sel = ids == k
        p = points[sel] - np.array(obj.center)
        c, s = math.cos(-obj.yaw), math.sin(-obj.yaw)
        x, y, z = c * p[:, 0] - s * p[:, 2], p[:, 1], s * p[:, 0] + c * p[:, 2]
        out[sel] = np.abs(_object_sdf(obj.shape, x, y, z, obj.half))
    for face in range(6):
        sel = ids == scene_render._ROOM_ID + face
        axis, high = divmod(face, 2)
        plane = (room_hi if high else room_lo)[axis]
        out[sel] = np.abs(points[sel, axis] - plane)
    return out


def test_every_pixel_unprojects_onto_its_surface():
    """Uses the renderer's internal instance ids: objects by signed distance, room faces by plane."""
    for seed in SEEDS:
        config = SceneConfig(image_size=(120, 160))
        world = scene_world._sample_world(seed, config)
        sample, ids = scene_render._render_view(world, world.camera_a, config, np.random.default_rng(0))
        valid = sample.depth.ravel() > 0
        np.testing.assert_array_equal(valid, ids.ravel() != scene_render._SKY_ID)
        xy = _pixel_centres(120, 160)[valid]
        points = sample.camera.unproject(xy, sample.depth.ravel()[valid])
        dist = _surface_distance(world, ids.ravel()[valid], points)
        assert np.all(dist < 1e-3 * np.maximum(sample.depth.ravel()[valid], 1.0))
        assert np.all(points[:, 1] > -1e-3)  # nothing below the floor


def test_objects_rest_on_the_floor_without_overlap():
    for seed in SEEDS:
        world = scene_world._sample_world(seed, SceneConfig())
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
        world = scene_world._sample_world(seed, config)
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


# ----------------------------------------------------------------------------- colours and fog


def _hsv_of(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) RGB in [0, 1] -> (N, 3) HSV."""
    return np.array([colorsys.rgb_to_hsv(*(float(c) for c in px)) for px in rgb])


def _in_band(hue: float, band: tuple[float, float], tol: float = 1e-4) -> bool:
    lo, hi = band
    return any(lo - tol <= hue + shift <= hi + tol for shift in (-1.0, 0.0, 1.0))


@pytest.mark.parametrize("num_classes", [6, 12])
def test_class_hue_bands_overlap_pairwise(num_classes):
    """Every hue lies in the bands of exactly two (neighbouring) classes: colour narrows, never decides."""
    bands = [syn.class_hue_band(k, num_classes) for k in range(num_classes)]
    for k, (lo, hi) in enumerate(bands):
        assert (lo + hi) / 2 == pytest.approx(k / num_classes)
        assert hi - lo == pytest.approx(2 / num_classes)
    for hue in np.linspace(0, 1, 97, endpoint=False) + 0.003:  # avoid the band edges
        owners = [k for k, band in enumerate(bands) if _in_band(hue, band, tol=0)]
        assert len(owners) == 2
        assert (owners[1] - owners[0]) % num_classes in (1, num_classes - 1)


@pytest.mark.parametrize("num_classes", [6, 12])
def test_object_colours_lie_in_their_class_hue_band(num_classes):
    config = SceneConfig(num_classes=num_classes)
    for seed in range(20):
        for obj in scene_world._sample_world(seed, config).objects:
            hsv = _hsv_of(obj.colours)
            band = syn.class_hue_band(obj.class_id, num_classes)
            assert all(_in_band(h, band) for h in hsv[:, 0]), (seed, obj.class_id, hsv)
            assert np.all(hsv[:, 1] >= 0.3)  # saturated enough for the hue to mean something
            assert abs(hsv[0, 2] - hsv[1, 2]) >= 0.2  # the texture pattern has value contrast


def test_room_is_less_saturated_than_objects():
    room, objects = [], []
    for seed in range(40):
        world = scene_world._sample_world(seed, SceneConfig())
        room.append(np.concatenate([world.room.floor[1]["colours"], world.room.wall[1]["colours"]]))
        objects.append(np.concatenate([o.colours for o in world.objects]))
    room_sat, object_sat = _hsv_of(np.concatenate(room))[:, 1], _hsv_of(np.concatenate(objects))[:, 1]
    assert np.median(room_sat) < 0.25 < 0.6 < np.median(object_sat)
    assert np.quantile(room_sat, 0.9) < np.quantile(object_sat, 0.1)


def test_colour_narrows_the_class_down_but_does_not_decide_it():
    """Nearest band centre from an object's hue: far above chance (1 / C), far below certainty."""
    config = SceneConfig()
    hits = []
    for seed in range(150):
        for obj in scene_world._sample_world(seed, config).objects:
            hue = _hsv_of(obj.colours[:1])[0, 0]
            hits.append(round(hue * config.num_classes) % config.num_classes == obj.class_id)
    assert 0.3 < np.mean(hits) < 0.85


def test_fog_blends_towards_the_fog_colour_with_distance():
    """Exact aerial perspective: image = fog + (clear image - fog) * exp(-ray distance / fog distance).
    Depth, mask and everything but RGB are unchanged by the fog."""
    clear_cfg = SceneConfig(image_size=(96, 128), noise_sigma=0.0, fog_probability=0.0)
    foggy_cfg = SceneConfig(image_size=(96, 128), noise_sigma=0.0, fog_probability=1.0)
    for seed in range(4):
        world = scene_world._sample_world(seed, foggy_cfg)
        clear, foggy = render_scene(seed, clear_cfg), render_scene(seed, foggy_cfg)
        assert clear.depth.tobytes() == foggy.depth.tobytes()
        assert clear.mask.tobytes() == foggy.mask.tobytes()
        np.testing.assert_array_equal(clear.camera.cam_to_world, foggy.camera.cam_to_world)
        valid = foggy.depth > 0
        rays = (
            np.concatenate([_pixel_centres(96, 128), np.ones((96 * 128, 1))], axis=1) @ np.linalg.inv(foggy.camera.K).T
        )
        distance = foggy.depth.ravel() * np.linalg.norm(rays, axis=1)  # along the ray
        keep = np.exp(-distance / world.fog_distance)[valid.ravel()]
        fog = world.fog * 255.0
        expected = fog + (clear.image.reshape(-1, 3)[valid.ravel()] - fog) * keep[:, None]
        np.testing.assert_allclose(foggy.image.reshape(-1, 3)[valid.ravel()], expected, atol=1.5)
        far = foggy.depth > np.quantile(foggy.depth[valid], 0.8)
        near = valid & (foggy.depth < np.quantile(foggy.depth[valid], 0.2))
        gap = np.abs(foggy.image.astype(float) - fog).mean(axis=2)  # distance to the fog colour
        assert gap[far].mean() < gap[near].mean()


def test_fog_is_greyish_and_brighter_than_its_absence():
    for seed in range(10):
        world = scene_world._sample_world(seed, SceneConfig())
        hsv = _hsv_of(world.fog[None])[0]
        assert hsv[1] <= 0.1 and hsv[2] >= 0.5
        lo, hi = SceneConfig().fog_distance
        assert lo <= world.fog_distance <= hi
    assert math.isinf(scene_world._sample_world(0, SceneConfig(fog_probability=0.0)).fog_distance)


def test_fog_settings_do_not_change_the_scene():
    a = scene_world._sample_world(3, SceneConfig())
    b = scene_world._sample_world(3, SceneConfig(fog_probability=0.0, fog_distance=(5.0, 6.0)))
    assert [o.center for o in a.objects] == [o.center for o in b.objects]
    for oa, ob in zip(a.objects, b.objects, strict=True):
        np.testing.assert_array_equal(oa.colours, ob.colours)
    np.testing.assert_array_equal(a.camera_a.cam_to_world, b.camera_a.cam_to_world)


def test_bad_fog_settings_raise_dataset_error():
    with pytest.raises(DatasetError):
        SceneConfig(fog_distance=(0.0, 5.0))
    with pytest.raises(DatasetError):
        SceneConfig(fog_distance=(6.0, 5.0))
    with pytest.raises(DatasetError):
        SceneConfig(fog_probability=1.5)
    assert SceneConfig(fog_distance=[3, 4]).fog_distance == (3.0, 4.0)  # lists (YAML) become a tuple
