"""Issue 15's writer: --outputs, compressed target maps, the background writer, and --dry-run."""

from __future__ import annotations

import importlib
import os
import re
import threading

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from probekit.benchmark import suite_outputs
from probekit.cli import app
from probekit.data import open_dataset
from probekit.errors import DiskFullError, ProbekitError, StoreError
from probekit.features import ExtractConfig, FeatureStore, extract
from probekit.features.background import BackgroundWriter, HostBatch
from probekit.features.extract import plan
from probekit.features.summary import store_summary
from probekit.tasks import TASKS, run_probe

RUNNER = CliRunner()
store_module = importlib.import_module("probekit.features.store")
CONFIG = ExtractConfig(
    backbone="test-dinov2", random_init=True, image_size=(56, 56), limit=12, batch_size=4, workers=0, layers="0,-1"
)


@pytest.fixture(scope="module")
def full_store(tmp_path_factory):
    return extract(CONFIG, tmp_path_factory.mktemp("full") / "full.h5", progress=False)


@pytest.fixture(scope="module")
def global_store(tmp_path_factory):
    config = ExtractConfig(**{**CONFIG.__dict__, "outputs": ("mean", "cls")})  # any order: stored as cls, mean
    return extract(config, tmp_path_factory.mktemp("global") / "global.h5", progress=False)


def test_outputs_store_only_the_chosen_datasets_with_the_same_values(full_store, global_store):
    with h5py.File(global_store) as f:
        assert sorted(f["layers/0"]) == sorted(f["layers/3"]) == ["cls", "mean"]
        assert list(f.attrs["outputs"]) == ["cls", "mean"]
    with FeatureStore(full_store) as full, FeatureStore(global_store) as small:
        assert full.outputs == ("cls", "mean", "patch") and small.outputs == ("cls", "mean")
        for layer in (0, 3):
            for field in ("cls", "mean"):
                np.testing.assert_array_equal(full.read(field, layer=layer), small.read(field, layer=layer))
        assert set(small.sample(0)["layers"][3]) == {"cls", "mean"}
        full.check_compatible(small)  # the same features: usable together (train cls,mean with a full val store)
    assert os.path.getsize(global_store) < os.path.getsize(full_store)


def test_a_probe_needing_patch_on_a_cls_mean_store_names_the_outputs_flag(global_store, tmp_path):
    with FeatureStore(global_store) as store, pytest.raises(StoreError, match=r"no patch features.*--outputs cls,mean"):
        store.read("patch")
    with pytest.raises(StoreError) as error:
        run_probe("segmentation", global_store, tmp_path, options=TASKS.get("segmentation").parse_options({}))
    message = str(error.value)
    assert "\n" not in message and "segmentation task reads patch" in message
    assert message.endswith("re-extract it with --outputs cls,mean,patch")


def test_tasks_say_which_outputs_they_read():
    outputs = {name: TASKS.get(name).required_outputs(TASKS.get(name).parse_options({})) for name in TASKS}
    assert outputs == {
        "classification": ("cls", "mean"),
        "knn": ("cls", "mean"),
        "logreg": ("cls", "mean"),
        "segmentation": ("patch",),
        "depth": ("cls", "patch"),
        "correspondence": ("patch",),
        "multiview": ("patch",),
        "normals": ("patch",),
    }
    depth = TASKS.get("depth")
    assert depth.required_outputs(depth.parse_options({"with_cls": False})) == ("patch",)
    assert suite_outputs([("classification", {}), ("knn", {"ks": [5]})]) == ("cls", "mean")
    assert suite_outputs([("classification", {}), ("segmentation", {})]) == ("cls", "mean", "patch")


def test_other_outputs_are_other_settings_for_resume(full_store, tmp_path):
    path = tmp_path / "s.h5"
    path.write_bytes(full_store.read_bytes())
    with pytest.raises(StoreError, match="other settings"):
        extract(ExtractConfig(**{**CONFIG.__dict__, "outputs": ("cls",)}), path, progress=False)
    assert extract(CONFIG, path, progress=False) == path  # the same outputs: complete already, skipped


@pytest.mark.parametrize("outputs", [(), ("cls", "tokens"), ("cls", "cls")])
def test_bad_outputs_are_refused_naming_the_flag(outputs, tmp_path):
    with pytest.raises(ProbekitError, match="--outputs"):
        extract(ExtractConfig(**{**CONFIG.__dict__, "outputs": outputs}), tmp_path / "s.h5", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_target_maps_are_compressed_losslessly_and_features_are_not(full_store):
    with h5py.File(full_store) as f:
        for name in ("mask", "depth"):
            assert f[f"targets/{name}"].compression == "gzip" and f[f"targets/{name}"].fletcher32
        assert f["targets/label"].compression is None
        assert all(f[f"layers/3/{field}"].compression is None for field in ("cls", "mean", "patch"))
    dataset = open_dataset("synthetic", "train", image_size=CONFIG.image_size, limit=CONFIG.limit)
    for i in (0, 7):
        sample = dataset[i]
        with FeatureStore(full_store) as store:
            np.testing.assert_array_equal(store.read_target("mask", i, i + 1)[0], sample["mask"])
            np.testing.assert_array_equal(store.read_target("depth", i, i + 1)[0], sample["depth"])
    with FeatureStore(full_store) as store:
        raw, stored = store.stored_bytes()["targets"]
    assert raw / stored > 2  # the synthetic scenes' masks and depth: ~3x at 56 px


def test_info_reports_bytes_per_image(full_store, global_store):
    full, small = store_summary(full_store), store_summary(global_store)
    assert "bytes per image: features 4.6 KB, targets" in full and "compressed" in full
    # 2 layers x (cls + mean) x 64 dims x 2 bytes, plus the chunks' Fletcher-32 checksums
    assert re.search(r"bytes per image: features 51[2-4] B,", small), small
    assert "outputs" in small and "['cls', 'mean']" in small


def test_dry_run_writes_nothing_and_its_size_is_within_5_percent(tmp_path):
    config = ExtractConfig(**{**CONFIG.__dict__, "limit": 48, "batch_size": 8})
    out = tmp_path / "sub" / "s.h5"
    estimate = plan(config, out)
    assert not (tmp_path / "sub").exists()  # no store, no .partial, no lock, no folder
    assert estimate.images == 48 and estimate.timed_batches == 2 and estimate.timed_images == 16
    assert estimate.measured_samples == 24 and estimate.images_per_second > 0
    path = extract(config, out, progress=False)
    real = os.path.getsize(path)
    assert abs(estimate.size.total / real - 1) < 0.05, (estimate.size, real)
    assert estimate.size.features == FeatureStore(path).stored_bytes()["features"][0]


def test_dry_run_cli_prints_the_plan(tmp_path):
    args = ["extract", "--backbone", "test-dinov2", "--random-init", "--image-size", "56", "--limit", "12"]
    result = RUNNER.invoke(app, [*args, "--workers", "0", "--dry-run", "--out", str(tmp_path / "s.h5")])
    assert result.exit_code == 0, result.output
    assert "images        12" in result.output and "features" in result.output and "targets" in result.output
    assert "free space" in result.output and "img/s" in result.output and "timed on" in result.output
    assert list(tmp_path.iterdir()) == []


def test_the_free_space_check_and_the_dry_run_use_one_estimate(tmp_path, monkeypatch):
    extract_module = importlib.import_module("probekit.features.extract")
    needed = plan(CONFIG, tmp_path / "s.h5").size
    calls = []
    original = store_module.StoreLayout.size

    def spy(self, samples, measured=None):
        calls.append(samples)
        return original(self, samples, measured)

    monkeypatch.setattr(store_module.StoreLayout, "size", spy)
    monkeypatch.setattr(extract_module, "free_bytes", lambda path: needed.features)  # less than the store needs
    with pytest.raises(DiskFullError, match="not enough disk space"):
        extract(CONFIG, tmp_path / "s.h5", progress=False)
    assert calls == [12]


class _SlowWriter:
    """A StoreWriter stand-in that blocks until released, recording the batches it wrote."""

    def __init__(self, fail_at: int | None = None):
        self.release, self.written, self.fail_at = threading.Event(), [], fail_at

    def write(self, start, ids, features, targets, skipped=(), originals=()):
        self.release.wait(10)
        if start == self.fail_at:
            raise DiskFullError("disk full: 10 B free at /x, need ~1 MB more for s.h5; free some space and re-run")
        self.written.append(start)


def _batch(start: int) -> HostBatch:
    return HostBatch(start, ["a"], {}, None, {})


def test_background_writer_does_not_block_the_forward_until_the_queue_is_full():
    slow = _SlowWriter()
    with BackgroundWriter(slow, depth=2) as background:  # type: ignore[arg-type]
        for start in range(3):  # one being written, two queued: none of these waits
            background.submit(_batch(start))
        assert slow.written == []
        slow.release.set()
    assert slow.written == [0, 1, 2]  # leaving the block wrote everything handed over


def test_background_writer_error_surfaces_in_the_main_thread_and_later_batches_are_dropped():
    slow = _SlowWriter(fail_at=1)
    slow.release.set()
    background = BackgroundWriter(slow)  # type: ignore[arg-type]
    with pytest.raises(DiskFullError, match="disk full"):
        for start in range(50):
            background.submit(_batch(start))
        background.close()
    background._finish()
    assert slow.written == [0]


def test_main_thread_error_still_writes_the_batches_handed_over():
    slow = _SlowWriter()
    slow.release.set()
    with pytest.raises(KeyError), BackgroundWriter(slow) as background:  # type: ignore[arg-type]
        background.submit(_batch(0))
        background.submit(_batch(1))
        raise KeyError("a failing dataset")
    assert slow.written == [0, 1]
