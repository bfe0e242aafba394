"""Damaged stores are detected, never read as features: chunk checksums, zeroed regions, truncation,
edited files, and `probekit info --verify`."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from probekit.cli import app
from probekit.errors import StoreError
from probekit.features import ExtractConfig, FeatureStore, extract
from tests.store_factory import write_store

RUNNER = CliRunner()
CONFIG = ExtractConfig(backbone="test-dinov2", random_init=True, image_size=(28, 28), limit=24, batch_size=8, workers=0)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return extract(CONFIG, tmp_path_factory.mktemp("integrity") / "good.h5", progress=False)


def _damaged(good, tmp_path, how: str):
    """A copy of the store with bytes zeroed: part of a patch chunk, a whole chunk with its checksum, the
    superblock, or the file cut short."""
    path = tmp_path / f"{how}.h5"
    shutil.copy(good, path)
    with h5py.File(good) as f:
        info = f["layers/3/patch"].id.get_chunk_info(5)
    if how == "truncated":
        with open(path, "r+b") as handle:
            handle.truncate(path.stat().st_size * 2 // 3)
        return path
    start, stop = {
        "part-of-a-chunk": (info.byte_offset + 16, info.byte_offset + 200),
        "whole-chunk": (info.byte_offset, info.byte_offset + info.size),
        "superblock": (0, 4096),
    }[how]
    with open(path, "r+b") as handle:
        handle.seek(start)
        handle.write(b"\0" * (stop - start))
    return path


@pytest.mark.parametrize("how", ["part-of-a-chunk", "whole-chunk"])
def test_zeroed_features_are_never_read(good, tmp_path, how):
    path = _damaged(good, tmp_path, how)
    store = FeatureStore(path)  # cheap checks on open pass: the damage is inside the data
    with pytest.raises(StoreError, match="is corrupt") as caught:
        store.read("patch")
    assert "re-extract it with --overwrite" in str(caught.value)
    assert store.read("patch", 0, 5).shape == (5, 2, 2, 64)  # undamaged chunks still read


@pytest.mark.parametrize("how", ["part-of-a-chunk", "whole-chunk"])
def test_probe_on_a_zeroed_store_is_one_line(good, tmp_path, how):
    path = _damaged(good, tmp_path, how)
    result = RUNNER.invoke(
        app,
        [
            "probe",
            "--task",
            "segmentation",
            "--features",
            str(path),
            "--out",
            str(tmp_path / "results"),
            "--epochs",
            "1",
            "--quiet",
        ],
    )
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "is corrupt" in lines[0], result.output
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").glob("*.json"))


@pytest.mark.parametrize("how", ["superblock", "truncated"])
def test_broken_file_is_refused_on_open(good, tmp_path, how):
    with pytest.raises(StoreError, match="not a readable HDF5 file"):
        FeatureStore(_damaged(good, tmp_path, how))


@pytest.mark.parametrize("how", ["part-of-a-chunk", "whole-chunk", "superblock", "truncated"])
def test_info_verify_fails_on_damage(good, tmp_path, how):
    result = RUNNER.invoke(app, ["info", "--verify", str(_damaged(good, tmp_path, how))])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("probekit: error:")


def test_info_verify_passes_on_a_good_store(good):
    result = RUNNER.invoke(app, ["info", "--verify", str(good)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("every dataset read back, checksums intact")
    assert FeatureStore(good).verify() == []


def test_a_dataset_with_the_wrong_number_of_rows_is_refused_on_open(good, tmp_path):
    path = tmp_path / "edited.h5"
    shutil.copy(good, path)
    with h5py.File(path, "r+") as f:
        del f["targets/label"]
        f["targets/label"] = np.zeros(20, dtype=np.int64)
    with pytest.raises(StoreError, match="damaged: /targets/label has 20 rows but the store says 24 samples"):
        FeatureStore(path)


def test_stores_that_hold_zero_rows_by_design_still_read(tmp_path):
    features = np.zeros((4, 2, 2, 3), dtype=np.float32)
    features[1:] = 1.0
    path = write_store(tmp_path / "zeros.h5", features, {"label": (np.arange(4), {"num_classes": 4})})
    store = FeatureStore(path)
    assert store.attrs["zero_feature_rows"] == 3  # sample 0's patch, cls and mean, as written
    assert store.read("patch").shape == (4, 2, 2, 3) and store.verify() == []


def test_every_numeric_dataset_is_checksummed(good):
    with h5py.File(good) as f:
        names: list[str] = []
        f.visit(lambda name: names.append(name) if isinstance(f[name], h5py.Dataset) else None)
        unprotected = [
            name
            for name in names
            if f[name].dtype != object and not f[name].fletcher32 and not name.startswith("pairs/")
        ]
    assert unprotected == []


def test_a_store_from_before_checksums_verifies_with_a_warning(good, tmp_path):
    path = tmp_path / "old.h5"
    shutil.copy(good, path)
    with h5py.File(path, "r+") as f:
        del f.attrs["checksums"]
        del f.attrs["zero_feature_rows"]
    result = RUNNER.invoke(app, ["info", "--verify", str(path)])
    assert result.exit_code == 0 and "no chunk checksums" in result.output
