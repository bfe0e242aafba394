"""Few-shot probes: k samples per class drawn per seed, a row-subset view, and mean/std/per-seed results."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore
from probekit.probes.stream import StoreView, iterate_batches, subset_view
from probekit.tasks import TASKS, run_probe
from probekit.tasks.fewshot import sample_shots
from tests.store_factory import gaussian_blobs, global_feature_store


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return gaussian_blobs(n, seed, spread=0.8)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("fewshot")
    (xtr, ytr), (xva, yva) = blobs(300, 0), blobs(200, 1)
    return {
        "train": global_feature_store(root / "train.h5", xtr, ytr),
        "val": global_feature_store(root / "val.h5", xva, yva),
        "arrays": (xtr, ytr, xva, yva),
    }


def test_shots_per_class_seeded_and_inside_the_view(stores):
    store = FeatureStore(stores["train"])
    labels = store.read_target("label")
    kept = StoreView(store, 10, holdout=False)  # the training part when val is held out of train
    rows, short = sample_shots(kept, labels, 5, seed=0)
    assert not short and len(rows) == 20 and (rows % 10 != 9).all()
    assert sorted(np.bincount(labels[rows]).tolist()) == [5, 5, 5, 5]
    again, _ = sample_shots(kept, labels, 5, seed=0)
    other, _ = sample_shots(kept, labels, 5, seed=1)
    assert (again == rows).all() and not (other == rows).all()
    rows, short = sample_shots(kept, labels, 1000, seed=0)
    assert len(rows) == len(kept) and sorted(short.values()) == sorted(np.bincount(labels[kept.keep(0, 300)]).tolist())


def test_subset_view_reads_exactly_its_rows(stores):
    store = FeatureStore(stores["train"])
    rows = np.array([3, 4, 5, 100, 257, 299])
    view = subset_view(StoreView(store), rows, "pick")
    read = lambda s, b, e: {"i": np.arange(b, e)}  # noqa: E731 - row ids
    seen = np.concatenate([batch["i"] for batch in iterate_batches(view, read, 4)])
    assert len(view) == 6 and (np.sort(seen) == rows).all() and view.name.endswith("[pick: 6 rows]")
    with pytest.raises(ValueError, match="rows outside"):
        subset_view(StoreView(store, 10, holdout=True), rows, "pick")


def test_knn_few_shot_reports_mean_std_and_every_seed(stores, tmp_path):
    xtr, ytr, xva, yva = stores["arrays"]
    options = TASKS.get("knn").parse_options({"shots": 5, "shot_seeds": 3, "ks": "1,10"})
    result = json.loads(
        run_probe("knn", stores["train"], tmp_path, val=stores["val"], options=options, progress=False).read_text()
    )
    seeds = result["per_seed"]
    assert [s["seed"] for s in seeds] == [0, 1, 2] and all(s["train_samples"] == 20 for s in seeds)
    top1 = [s["metrics"]["top1"] for s in seeds]
    assert result["metrics"]["top1"] == pytest.approx(np.mean(top1))
    assert result["metrics_std"]["top1"] == pytest.approx(np.std(top1)) and result["metrics_std"]["top1"] > 0
    assert result["few_shot"] == {"shots": 5, "seeds": [0, 1, 2]}
    # each seed is the plain kNN on its 20 samples (DINOv2's vote ranks classes as exp(sim / T))
    labels = FeatureStore(stores["train"]).read_target("label")
    for seed in seeds:
        rows, _ = sample_shots(StoreView(FeatureStore(stores["train"])), labels, 5, seed["seed"])
        k = seed["chosen"]["k"]
        reference = KNeighborsClassifier(
            k, metric="cosine", algorithm="brute", weights=lambda d: np.exp((1 - d) / 0.07)
        )
        assert seed["metrics"]["top1"] == pytest.approx(reference.fit(xtr[rows], ytr[rows]).score(xva, yva))


@pytest.mark.parametrize(
    ("task", "values"),
    [
        ("classification", {"epochs": 5, "batch_size": 8, "lrs": "0.5", "pooling": "cls", "n_blocks": "1"}),
        ("logreg", {"cs": "0.1,1"}),
    ],
)
def test_every_classification_task_takes_shots(stores, tmp_path, task, values):
    options = TASKS.get(task).parse_options({**values, "shots": 4, "shot_seeds": 2})
    result = json.loads(
        run_probe(task, stores["train"], tmp_path, val=stores["val"], options=options, progress=False).read_text()
    )
    assert len(result["per_seed"]) == 2 and result["probe"]["settings"]["shots"] == 4
    assert result["metrics"]["top1"] == pytest.approx(np.mean([s["metrics"]["top1"] for s in result["per_seed"]]))
    assert result["metrics"]["top1"] > 0.5  # well-separated blobs: four per class are enough


def test_bad_shots_are_one_line():
    with pytest.raises(ProbekitError, match="shots must be a positive integer, not 0"):
        TASKS.get("knn").parse_options({"shots": 0})
