"""FeatureStore: reading by sample, slice and batch; refusing incomplete or mismatched stores."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from probekit.errors import StoreError
from probekit.features import ExtractConfig, FeatureStore, extract
from probekit.h5attrs import from_attr, to_attr


def test_layout_matches_the_contract(tiny_store):
    with h5py.File(tiny_store, "r") as f:
        assert f["ids"].shape == (12,)
        assert sorted(f["layers"]) == ["1", "3"]
        assert f["layers/3/cls"].shape == (12, 64) and f["layers/3/cls"].dtype == np.float16
        assert f["layers/3/patch"].shape == (12, 4, 6, 64)  # 56x84 px / patch 14
        assert f["layers/3/patch"].chunks == (1, 4, 6, 64) and f["layers/3/patch"].compression is None
        assert f["targets/mask"].shape == (12, 56, 84) and f["targets/depth"].dtype == np.float32
        assert f.attrs["complete"] and f.attrs["num_done"] == 12


def test_reads_agree_with_each_other(tiny_store):
    with FeatureStore(tiny_store) as store:
        assert len(store) == 12 and store.layers == [1, 3] and store.grid == (4, 6) and store.dim == 64
        patch = store.read("patch", layer=-1)
        np.testing.assert_array_equal(store.read("patch", 3, 7, layer=3), patch[3:7])
        one = store.sample(5)
        assert one["id"] == store.ids[5] == "synthetic-train-000005"
        np.testing.assert_array_equal(one["layers"][3]["patch"], patch[5])
        np.testing.assert_array_equal(one["targets"]["depth"], store.read_target("depth", 5, 6)[0])
        batches = list(store.iter_batches(5, fields=("cls", "patch"), layers=[1], targets=("label",)))
        assert [b["start"] for b in batches] == [0, 5, 10]
        np.testing.assert_array_equal(
            np.concatenate([b["layers"][1]["cls"] for b in batches]), store.read("cls", layer=1)
        )
        np.testing.assert_array_equal(
            np.concatenate([b["targets"]["label"] for b in batches]), store.read_target("label")
        )


def test_stored_mean_is_the_mean_of_the_stored_patches(tiny_store):
    with FeatureStore(tiny_store) as store:
        patch = store.read("patch").astype(np.float32)
        np.testing.assert_allclose(store.read("mean").astype(np.float32), patch.mean(axis=(1, 2)), atol=2e-3)


def test_unknown_layer_field_and_target_are_clear_errors(tiny_store):
    with FeatureStore(tiny_store) as store:
        with pytest.raises(StoreError, match="has layers"):
            store.read("cls", layer=2)
        with pytest.raises(StoreError, match="unknown feature field"):
            store.read("tokens")
        with pytest.raises(StoreError, match="no 'targets/keypoints'"):
            store.read_target("keypoints")


def test_incomplete_store_is_refused(tiny_store, tmp_path):
    path = tmp_path / "copy.h5"
    path.write_bytes(tiny_store.read_bytes())
    with h5py.File(path, "r+") as f:
        f.attrs["complete"] = False
        f.attrs["num_done"] = 5
    with pytest.raises(StoreError, match=r"incomplete .*5/12.* resume"):
        FeatureStore(path)
    assert FeatureStore(path, allow_incomplete=True).attrs["num_done"] == 5


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        FeatureStore(tmp_path / "nothing.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(StoreError, match="not a readable HDF5"):
        FeatureStore(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(StoreError, match="not a probekit feature store"):
        FeatureStore(tmp_path / "other.h5")


def test_train_and_val_from_different_backbones_are_refused(tiny_store, tmp_path):
    common = dict(random_init=True, image_size=(56, 84), layers="1,-1", batch_size=4, workers=0, limit=4)
    same = extract(ExtractConfig(backbone="test-dinov2", split="val", **common), tmp_path / "val.h5", progress=False)
    other = extract(
        ExtractConfig(backbone="test-dinov2-reg", split="val", **common), tmp_path / "reg.h5", progress=False
    )
    with FeatureStore(tiny_store) as train:
        train.check_compatible(FeatureStore(same))  # same backbone, other split and size: fine
        with pytest.raises(StoreError, match=r"extracted differently.*backbone"):
            train.check_compatible(FeatureStore(other))


def test_store_pickles_for_dataloader_workers(tiny_store):
    import pickle

    store = FeatureStore(tiny_store)
    store.read("cls")
    clone = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(clone.read("cls"), store.read("cls"))


@pytest.mark.parametrize("value", [None, {"a": [1, 2]}, [1, 2, 3], [0.5, 1.5], ["x", "y"], "text", 3, 2.5, True, []])
def test_attrs_round_trip(tmp_path, value):
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.attrs["v"] = to_attr(value)
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert from_attr(f.attrs["v"]) == value


def test_targets_cast_to_float16_by_numpy_give_the_bits_hdf5_gives():
    import io

    import h5py
    import numpy as np

    from probekit.features.store import as_stored

    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            rng.normal(size=1000).astype(np.float32),
            np.array([65504, 65519, 65520, 1e6, -1e6, 1e-8, -0.0, np.nan, np.inf, 2.0**-24, 2.0**-25, 3 * 2.0**-26]),
        ]
    ).astype(np.float32)
    with h5py.File(io.BytesIO(), "w") as f:
        by_hdf5 = f.create_dataset("hdf5", shape=values.shape, dtype=np.float16)
        by_hdf5[...] = values
        ours = as_stored(values, by_hdf5.dtype)
        assert ours.dtype == np.float16
        hdf5 = by_hdf5[...]
        ieee = (np.abs(values) > 65504) & (np.abs(values) < 65520)  # IEEE rounds these to 65504, HDF5 to inf
        assert ieee.sum() == 1 and ours[ieee] == 65504 and np.isinf(hdf5[ieee]).all()
        assert np.array_equal(ours[~ieee].view(np.uint16), hdf5[~ieee].view(np.uint16))
    labels = np.arange(5, dtype=np.int64)
    assert as_stored(labels, np.dtype(np.int64)) is labels  # anything else is handed to HDF5 as it is
