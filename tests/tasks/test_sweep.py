"""Layer sweeps (`sweep_layers`): one pass over the store trains a grid per layer, and each layer's numbers
are those of a separate single-layer run with the same seed."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore
from probekit.tasks import TASKS, run_probe
from tests.store_factory import write_layers_store

N, h, w, D = 24, 4, 4, 4
LAYERS = (3, 7, 11)  # of a 12-block network


def _store(path: Path, seed: int) -> Path:
    """Three layers that hold the answers with more and more noise removed (layer 11 cleanest)."""
    rng = np.random.default_rng(seed)
    patch_class = rng.integers(0, 3, size=(N, h, w))
    mask = patch_class.repeat(4, 1).repeat(4, 2).astype(np.uint8)  # (N, 16, 16)
    depth = (1.0 + patch_class.repeat(4, 1).repeat(4, 2)).astype(np.float32)  # (N, 16, 16) metres
    label = patch_class.reshape(N, -1).max(1).astype(np.int64)  # (N,)
    clean = np.concatenate([np.eye(3)[patch_class], np.log(depth[:, ::4, ::4, None])], axis=-1)  # (N, h, w, 4)
    features = {}
    for k, noise in zip(LAYERS, (2.0, 0.7, 0.1), strict=True):
        patch = (clean + rng.normal(scale=noise, size=clean.shape)).astype(np.float32)
        features[k] = {"cls": patch.max(axis=(1, 2)), "mean": patch.mean(axis=(1, 2)), "patch": patch}
    targets = {
        "mask": (mask, {"num_classes": 3, "ignore_index": 255}),
        "depth": (depth, {"min_depth": 0.5, "max_depth": 10.0}),
        "label": (label, {"num_classes": 3}),
    }
    return write_layers_store(path, features, targets, patch_size=4)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    return _store(root / "train.h5", 0), _store(root / "val.h5", 1)


OPTIONS = {
    "segmentation": {"lrs": (1e-2, 3e-2), "epochs": 2, "batch_size": 8},
    "depth": {"lrs": (1e-2, 3e-2), "epochs": 2, "batch_size": 8, "n_bins": 16},
    "classification": {"lrs": (0.1, 1.0), "epochs": 2, "batch_size": 8},
}


def _run(task: str, stores, out: Path, **extra) -> dict:
    options = TASKS.get(task).parse_options({**OPTIONS[task], **extra})
    path = run_probe(task, stores[0], out, val=stores[1], options=options, progress=False)
    return json.loads(path.read_text())


def _counting_reads(monkeypatch) -> Counter:
    """Counts FeatureStore.read calls per (store file, layer)."""
    counts: Counter = Counter()
    read = FeatureStore.read

    def counted(self, field, start=0, stop=None, layer=None):
        counts[(self.path.name, layer)] += 1
        return read(self, field, start, stop, layer)

    monkeypatch.setattr(FeatureStore, "read", counted)
    return counts


@pytest.mark.parametrize("task", ["segmentation", "depth", "classification"])
def test_sweep_equals_single_layer_runs_and_reads_each_layer_once(task, stores, tmp_path, monkeypatch):
    counts = _counting_reads(monkeypatch)
    sweep = _run(task, stores, tmp_path / "sweep", sweep_layers="all")
    swept_reads = Counter(counts)
    key = TASKS.get(task).columns[0].key
    by_layer = {entry["layer"]: entry for entry in sweep["layer_sweep"]}
    assert sorted(by_layer) == list(LAYERS)
    for layer in LAYERS:
        counts.clear()
        single = _run(task, stores, tmp_path / f"single{layer}", layers=(layer,))
        assert by_layer[layer]["relative_depth"] == pytest.approx((layer + 1) / 12)
        for name, value in by_layer[layer]["metrics"].items():
            assert value == pytest.approx(single["metrics"][name], rel=1e-5, abs=1e-6), (layer, name)
        assert by_layer[layer]["selection"] == pytest.approx(
            next(iter(v for k, v in single["probe"]["chosen"].items() if k.startswith("val_"))), rel=1e-5
        )
        # the training pass reads each layer as often as a single-layer run does, not once per head or per layer;
        # on val a sweep reads no more (the trivial baseline is scored on the chosen layer only)
        assert swept_reads[("train.h5", layer)] == counts[("train.h5", layer)] > 0
        assert 0 < swept_reads[("val.h5", layer)] <= counts[("val.h5", layer)]
    chosen = sweep["probe"]["settings"]["layers"]
    assert len(chosen) == 1 and sweep["metrics"][key] == pytest.approx(by_layer[chosen[0]]["metrics"][key])
    lower_is_better = task == "depth"  # selected on val RMSE; the others on val mIoU / top-1
    scores = {layer: entry["selection"] * (-1 if lower_is_better else 1) for layer, entry in by_layer.items()}
    assert scores[chosen[0]] == max(scores.values())  # the best (layer, lr, wd) on val is the one reported


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"sweep_layers": "3,x"}, "comma-separated layer indices"),
        ({"sweep_layers": "3,3"}, "names a layer twice"),
        ({"sweep_layers": "all", "layers": (3,)}, "--layers and --sweep-layers"),
    ],
)
def test_bad_sweeps_are_one_line(values, message):
    with pytest.raises(ProbekitError, match=message) as error:
        TASKS.get("segmentation").parse_options(values)
    assert "\n" not in str(error.value)


def test_unsupported_tasks_refuse_a_sweep(stores, tmp_path):
    with pytest.raises(ProbekitError, match="trains no head per layer"):
        TASKS.get("correspondence").parse_options({"sweep_layers": "all"})
    with pytest.raises(ProbekitError, match="no option"):
        TASKS.get("knn").parse_options({"sweep_layers": "all"})
    with pytest.raises(ProbekitError, match="has layers"):  # a layer the store lacks: before any training
        _run("segmentation", stores, tmp_path, sweep_layers="3,5")
