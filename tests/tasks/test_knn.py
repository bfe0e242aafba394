"""kNN classification: DINOv2's weighted vote, streamed in chunks, against scikit-learn's KNeighborsClassifier."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

from probekit.errors import ProbekitError
from probekit.probes.stream import StoreView
from probekit.tasks import TASKS, run_probe
from probekit.tasks.knn import chunks, global_reader, neighbours, vote
from tests.store_factory import write_store

T = 0.07


def _blobs(n: int, seed: int, d: int = 16, c: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(scale=0.6, size=(c, d))
    y = rng.integers(0, c, size=n)
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y.astype(np.int64)


def _store(path, x, y, c: int = 4):
    patch = np.zeros((len(x), 1, 1, x.shape[1]), np.float32)
    return write_store(path, patch, {"label": (y, {"num_classes": c})}, cls=x)


def _sklearn(k: int) -> KNeighborsClassifier:
    # cosine distance d = 1 - sim; DINOv2's weights softmax(sim / T) rank classes as exp(sim / T) does
    return KNeighborsClassifier(
        n_neighbors=k, metric="cosine", algorithm="brute", weights=lambda d: np.exp((1 - d) / T)
    )


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("knn")
    (xtr, ytr), (xva, yva), (xte, yte) = _blobs(700, 0), _blobs(200, 1), _blobs(500, 2)
    return {
        "train": _store(root / "train.h5", xtr, ytr),
        "val": _store(root / "val.h5", xva, yva),
        "test": _store(root / "test.h5", xte, yte),
        "arrays": (xtr, ytr, xva, yva, xte, yte),
    }


@pytest.mark.parametrize("rows", [37, 4096])
def test_streamed_votes_predict_what_sklearn_predicts(stores, rows):
    """Chunks smaller than k (37 rows, k up to 100) and one chunk: the same predictions as scikit-learn."""
    xtr, ytr, _, _, xte, _ = stores["arrays"]
    from probekit.features.store import FeatureStore

    train, test = StoreView(FeatureStore(stores["train"])), StoreView(FeatureStore(stores["test"]))
    read = global_reader(11, "cls")
    ks = [1, 10, 20, 100]
    predictions: list[list[torch.Tensor]] = [[] for _ in ks]
    for queries, _ in chunks(test, read, rows, torch.device("cpu")):
        sims, near = neighbours(queries, train, read, rows, max(ks))
        for i, scores in enumerate(vote(sims, near, ks, T, 4)):
            predictions[i].append(scores.argmax(1))
    for k, ours in zip(ks, predictions, strict=True):
        theirs = _sklearn(k).fit(xtr, ytr).predict(xte)
        assert (torch.cat(ours).numpy() == theirs).all(), k


def test_run_chooses_k_on_val_and_matches_sklearn_on_test(stores, tmp_path):
    xtr, ytr, xva, yva, xte, yte = stores["arrays"]
    path = run_probe(
        "knn",
        stores["train"],
        tmp_path,
        val=stores["val"],
        test=stores["test"],
        progress=False,
        options=TASKS.get("knn").parse_options({"chunk_size": 128}),
    )
    result = json.loads(path.read_text())
    val_scores = {k: _sklearn(k).fit(xtr, ytr).score(xva, yva) for k in (10, 20, 100, 200)}
    grid = {row["k"]: row["val_score"] for row in result["probe"]["grid"]}
    assert grid == pytest.approx(val_scores, abs=1e-9)
    k = result["probe"]["chosen"]["k"]
    assert val_scores[k] == max(val_scores.values())
    theirs = _sklearn(k).fit(xtr, ytr).score(xte, yte)
    assert abs(result["metrics"]["top1"] - theirs) <= 0.01, (result["metrics"]["top1"], theirs)
    assert 0.5 < theirs < 0.98 and result["evaluated_on"] == "test"
    assert result["metrics"]["top1"] > result["trivial_baseline"]["top1"] + 0.2
    assert "mean_per_class_recall" in result["metrics"] and result["metrics"]["num_samples"] == 500


def test_ks_beyond_the_training_samples(tmp_path):
    x, y = _blobs(30, 3)
    store = _store(tmp_path / "small.h5", x, y)
    options = TASKS.get("knn").parse_options({"ks": "10,100"})
    result = json.loads(run_probe("knn", store, tmp_path, val=store, options=options, progress=False).read_text())
    assert result["probe"]["settings"]["ks"] == [10]
    with pytest.raises(ProbekitError, match="ks \\[100\\] all exceed the 30 training samples"):
        run_probe("knn", store, tmp_path, val=store, options=TASKS.get("knn").parse_options({"ks": "100"}))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"ks": "0"}, "ks must be positive"),
        ({"temperature": 0}, "temperature must be"),
        ({"feature": "x"}, "unknown feature"),
    ],
)
def test_bad_options_are_one_line(values, expected):
    with pytest.raises(ProbekitError, match=expected):
        TASKS.get("knn").parse_options(values)


def test_a_suite_runs_knn_and_logreg(tmp_path):
    from probekit.benchmark import Suite, run_suite

    suite = Suite(
        name="knn",
        image_size=[32, 48],
        splits={"train": 12, "val": 6},
        layers="-1",
        workers=0,
        backbones=[{"backbone": "test-vit", "random_init": True}],
        tasks={"knn": {"ks": [1, 3], "feature": "cls+mean"}, "logreg": {"cs": [0.1, 1.0]}},
    )
    run_suite(suite, tmp_path, progress=False)
    for task in ("knn", "logreg"):
        [path] = (tmp_path / "results").glob(f"{task}__*.json")
        result = json.loads(path.read_text())
        assert result["task"] == task and result["metrics"]["num_samples"] == 6
    table = (tmp_path / "results" / "table.md").read_text()
    assert "knn top-1" in table and "logreg top-1" in table
