"""The synthetic two-view pairs: images, pair table, and a store that carries the table."""

import h5py
import numpy as np
import pytest

from probekit.data import open_dataset
from probekit.data.poses import relative_rotation_deg
from probekit.data.synthetic import render_pair
from probekit.errors import DatasetError
from probekit.features.extract import ExtractConfig, extract
from probekit.features.store import FeatureStore


def test_images_are_the_two_views_and_table_holds_the_renderer_matches():
    dataset = open_dataset("synthetic-pairs", "val", image_size=(32, 48))
    assert len(dataset) == 128
    first = render_pair(dataset.pair_seed(0), dataset.config, dataset.num_points)
    np.testing.assert_array_equal(dataset[0]["image"], first.view_a.image)
    np.testing.assert_array_equal(dataset[1]["image"], first.view_b.image)
    table = dataset.pair_table
    assert len(table) == 64 and table.pck_reference == "image"
    np.testing.assert_array_equal(table.src_kps[0, : len(first.points_a)], first.points_a)
    np.testing.assert_array_equal(table.trg_kps[0, : len(first.points_b)], first.points_b)
    assert (table.src[:3], table.trg[:3]) == (pytest.approx([0, 2, 4]), pytest.approx([1, 3, 5]))
    np.testing.assert_array_equal(table.trg_bbox[0], [0, 0, 48, 32])


def test_store_carries_the_pairs_of_the_kept_images(tmp_path):
    config = ExtractConfig(
        backbone="pixels-p8", dataset="synthetic-pairs", split="val", image_size=(32, 32), limit=6, workers=0
    )
    path = extract(config, tmp_path / "pairs.h5", progress=False)
    with FeatureStore(path) as store:
        table = store.read_pairs()
        assert store.has_pairs and len(store) == 6 and len(table) == 3
        np.testing.assert_array_equal(table.src, [0, 2, 4])
        assert store.read_target("pixel_map").shape == (6, 4)


def test_root_is_refused():
    with pytest.raises(DatasetError, match="drop --root"):
        open_dataset("synthetic-pairs", "val", root="/data")


def test_limit_renders_only_the_kept_pairs(monkeypatch):
    dataset = open_dataset("synthetic-pairs", "train", image_size=(16, 16), limit=4)
    rendered = []
    original = type(dataset.dataset).pair
    monkeypatch.setattr(type(dataset.dataset), "pair", lambda self, i: rendered.append(i) or original(self, i))
    table = dataset.pair_table
    assert len(table) == 2 and sorted(set(rendered)) == [0, 1]


def test_relative_rotation_is_the_geodesic_angle():
    def yaw(deg: float) -> np.ndarray:
        c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
        pose = np.eye(4)
        pose[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
        return pose

    assert relative_rotation_deg(yaw(10), yaw(10)) == pytest.approx(0.0, abs=1e-6)
    assert relative_rotation_deg(yaw(-20), yaw(30)) == pytest.approx(50.0)
    assert relative_rotation_deg(yaw(0), yaw(170)) == pytest.approx(170.0)


def test_multiview_pairs_spread_over_the_bins_and_record_their_rotation(tmp_path):
    dataset = open_dataset("synthetic-multiview", "val", image_size=(32, 32))
    assert [dataset.pair_yaw(p) for p in range(5)] == [(0, 30), (30, 60), (60, 90), (90, 120), (0, 30)]
    table = dataset.pair_table_among(np.arange(16))
    pair = dataset.pair(3)
    cameras = pair.view_a.camera.cam_to_world, pair.view_b.camera.cam_to_world
    assert table.rotation_deg[3] == pytest.approx(relative_rotation_deg(*cameras), abs=1e-4)
    counts = np.histogram(table.rotation_deg, bins=[0, 30, 60, 90, 120])[0]
    assert counts.sum() == 8 and (counts >= 1).all()
    config = ExtractConfig(
        backbone="pixels-p8", dataset="synthetic-multiview", split="val", image_size=(32, 32), limit=6, workers=0
    )
    with FeatureStore(extract(config, tmp_path / "mv.h5", progress=False)) as store:
        np.testing.assert_array_equal(store.read_pairs().rotation_deg, table.rotation_deg[:3])


def test_pair_tables_without_angles_read_back_without_them(tmp_path):
    config = ExtractConfig(
        backbone="pixels-p8", dataset="synthetic-pairs", split="val", image_size=(32, 32), limit=4, workers=0
    )
    path = extract(config, tmp_path / "pairs.h5", progress=False)
    with h5py.File(path, "a") as f:
        del f["pairs/rotation_deg"]  # as a store written before the angles were recorded
    with FeatureStore(path) as store:
        table = store.read_pairs()
    assert table.rotation_deg is None and len(table.restrict(np.arange(2))) == 1
