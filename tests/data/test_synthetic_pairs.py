"""The synthetic two-view pairs: images, pair table, and a store that carries the table."""

import numpy as np
import pytest

from probekit.data import open_dataset
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
