"""Pair tables: validation, subsets, and the round trip through a feature store."""

import h5py
import numpy as np
import pytest

from probekit.data.pairs import PairTable, pad_keypoints, read_pairs, write_pairs
from probekit.errors import DatasetError, StoreError


def _table(n=3):
    kps = pad_keypoints([np.arange(2 * k, dtype=np.float32).reshape(k, 2) for k in range(1, n + 1)])
    box = np.tile(np.array([[0, 0, 10, 20]], np.float32), (n, 1))
    return PairTable(
        ids=[f"p{i}" for i in range(n)],
        src=np.arange(n) * 2,
        trg=np.arange(n) * 2 + 1,
        src_kps=kps,
        trg_kps=kps + 1,
        src_bbox=box,
        trg_bbox=box,
        categories=["cat"] * n,
        pck_reference="bbox",
        attrs={"source": "test"},
    )


def test_padding_and_valid():
    table = _table()
    assert table.src_kps.shape == (3, 3, 2)
    np.testing.assert_array_equal(table.valid.sum(1), [1, 2, 3])


def test_restrict_keeps_pairs_with_both_images_and_reindexes():
    table = _table(3)  # pairs (0,1), (2,3), (4,5)
    kept = table.restrict(np.array([2, 3, 4]))
    assert kept.ids == ["p1"]
    np.testing.assert_array_equal(kept.src, [0])
    np.testing.assert_array_equal(kept.trg, [1])
    np.testing.assert_array_equal(kept.src_kps, table.src_kps[1:2])


def test_round_trip_through_hdf5(tmp_path):
    table = _table()
    with h5py.File(tmp_path / "s.h5", "w") as f:
        write_pairs(f, table)
    with h5py.File(tmp_path / "s.h5", "r") as f:
        back = read_pairs(f)
    assert back.ids == table.ids and back.categories == table.categories and back.pck_reference == "bbox"
    for name in ("src", "trg", "src_kps", "trg_kps", "src_bbox", "trg_bbox"):
        np.testing.assert_array_equal(getattr(back, name), getattr(table, name))
    assert back.attrs == {"source": "test"}


def test_store_without_pairs_says_which_datasets_have_them(tmp_path):
    with h5py.File(tmp_path / "s.h5", "w") as f, pytest.raises(StoreError, match="synthetic-pairs"):
        read_pairs(f)


def test_inconsistent_tables_are_refused():
    table = _table()
    with pytest.raises(DatasetError, match="pck_reference"):
        PairTable(**{**table.__dict__, "pck_reference": "diagonal"})
    with pytest.raises(DatasetError, match="rows"):
        PairTable(**{**table.__dict__, "src": table.src[:2]})
