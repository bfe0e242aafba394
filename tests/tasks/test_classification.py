"""Classification probe: parity with scikit-learn's LogisticRegression on the same features."""

from __future__ import annotations

import json

import pytest
from sklearn.linear_model import LogisticRegression

from probekit.tasks import TASKS, run_probe
from tests.store_factory import gaussian_blobs, global_feature_store


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("blobs")
    (xtr, ytr), (xva, yva), (xte, yte) = gaussian_blobs(600, 0), gaussian_blobs(200, 1), gaussian_blobs(400, 2)
    return {
        "train": global_feature_store(root / "train.h5", xtr, ytr),
        "val": global_feature_store(root / "val.h5", xva, yva),
        "test": global_feature_store(root / "test.h5", xte, yte),
        "arrays": (xtr, ytr, xte, yte),
    }


def test_parity_with_sklearn_logistic_regression(stores, tmp_path):
    xtr, ytr, xte, yte = stores["arrays"]
    C = 0.05
    reference = LogisticRegression(C=C, max_iter=5000).fit(xtr, ytr)
    # sklearn minimises C * sum(CE) + |w|^2 / 2  <=>  mean(CE) + |w|^2 / (2 C N): SGD weight decay 1 / (C N)
    path = run_probe(
        "classification",
        stores["train"],
        tmp_path,
        val=stores["val"],
        test=stores["test"],
        options=TASKS.get("classification").parse_options(
            {
                "pooling": ("cls",),
                "n_blocks": (1,),
                "lrs": (2.0,),
                "weight_decays": (1 / (C * len(xtr)),),
                "epochs": 150,
                "batch_size": 64,
            }
        ),
        progress=False,
    )
    result = json.loads(path.read_text())
    ours = result["metrics"]["top1"]
    theirs = reference.score(xte, yte)
    assert abs(ours - theirs) <= 0.015, (ours, theirs)
    assert result["evaluated_on"] == "test" and result["metrics"]["num_samples"] == 400
    assert 0.5 < theirs < 0.98  # a problem with room for error, so parity means something


def test_grid_selects_on_val_and_records_everything(stores, tmp_path):
    path = run_probe(
        "classification",
        stores["train"],
        tmp_path,
        val=stores["val"],
        options=TASKS.get("classification").parse_options({"lrs": (1e-5, 1.0), "epochs": 20, "batch_size": 64}),
        progress=False,
    )
    result = json.loads(path.read_text())
    grid = result["probe"]["grid"]
    assert len(grid) == 2 * 2  # 2 lrs x poolings (cls, cls+mean); only one stored layer -> n_blocks 1
    best = max(grid, key=lambda row: row["val_score"])
    assert result["probe"]["chosen"]["lr"] == best["lr"] and best["lr"] == pytest.approx(1.0 * 64 / 256)
    assert result["evaluated_on"] == "val" and result["metrics"]["top1"] == pytest.approx(best["val_score"])
    for key in ("backbone", "features", "store_fingerprints", "versions", "git_sha", "wall_seconds", "seed", "probe"):
        assert key in result
    assert len(result["metrics"]["confusion_matrix"]) == 4
    assert (tmp_path / result["head_weights"]).exists()


def test_existing_run_is_skipped(stores, tmp_path):
    options = {"lrs": (0.1,), "pooling": ("cls",)}
    config = {"epochs": 2, "batch_size": 64}
    first = run_probe(
        "classification",
        stores["train"],
        tmp_path,
        val=stores["val"],
        options=TASKS.get("classification").parse_options({**options, **config}),
        progress=False,
    )
    stamp = first.stat().st_mtime_ns
    again = run_probe(
        "classification",
        stores["train"],
        tmp_path,
        val=stores["val"],
        options=TASKS.get("classification").parse_options({**options, **config}),
        progress=False,
    )
    assert again == first and first.stat().st_mtime_ns == stamp


def test_held_out_validation_when_no_val_store(stores, tmp_path):
    path = run_probe(
        "classification",
        stores["train"],
        tmp_path,
        options=TASKS.get("classification").parse_options(
            {"lrs": (0.1,), "pooling": ("cls",), "epochs": 2, "batch_size": 64}
        ),
        progress=False,
    )
    result = json.loads(path.read_text())
    assert result["split_sizes"] == {"train": 540, "val": 60, "test": None}
    assert "held-out" in result["splits"]["val"]


def test_periodic_validation_on_a_subset_and_the_final_choice_on_all_of_val(stores, tmp_path):
    """val_subset 7: the periodic scores come from 7 val samples, every head's best state is then scored on all
    200 (the grid's val_score): with no test store the chosen head's metrics are that full-val score."""
    options = {"lrs": (1e-3, 1.0), "pooling": ("cls",), "iters": 60, "eval_every": 10, "val_subset": 7}
    path = run_probe(
        "classification",
        stores["train"],
        tmp_path,
        val=stores["val"],
        options=TASKS.get("classification").parse_options({**options, "batch_size": 64}),
        progress=False,
    )
    result = json.loads(path.read_text())
    periodic = [s for record in result["history"] for s in record["val_scores"]]
    assert all(abs(s * 7 - round(s * 7)) < 1e-9 for s in periodic)  # top-1 over 7 samples: multiples of 1/7
    chosen = result["probe"]["chosen"]
    assert result["metrics"]["num_samples"] == 200 and chosen["val_top1"] == pytest.approx(result["metrics"]["top1"])
    assert len(result["history"]) == 6 and result["probe"]["schedule"]["eval_every"] == 10
