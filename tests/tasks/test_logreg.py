"""Logistic regression: torch L-BFGS against scikit-learn's LogisticRegression (same objective, same protocol)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from probekit.cli import app
from probekit.errors import ProbekitError
from probekit.tasks import TASKS, run_probe
from probekit.tasks.logreg import fit
from tests.store_factory import gaussian_blobs, global_feature_store


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("logreg")
    (xtr, ytr), (xva, yva), (xte, yte) = gaussian_blobs(400, 0), gaussian_blobs(150, 1), gaussian_blobs(500, 2)
    return {
        "train": global_feature_store(root / "train.h5", xtr, ytr),
        "val": global_feature_store(root / "val.h5", xva, yva),
        "test": global_feature_store(root / "test.h5", xte, yte),
        "arrays": (xtr, ytr, xva, yva, xte, yte),
    }


@pytest.mark.parametrize("c", [1e-3, 0.05, 10.0])
def test_one_fit_is_sklearns(stores, c):
    """Same objective: close coefficients, intercepts and probabilities."""
    xtr, ytr, _, _, xte, _ = stores["arrays"]
    xtr, xte = xtr.astype(np.float64), xte.astype(np.float64)  # both fits in float64, as DINOv2's
    reference = LogisticRegression(C=c, max_iter=10000, tol=1e-10).fit(xtr, ytr)
    ours = fit(torch.from_numpy(xtr), torch.from_numpy(ytr), c, 4, max_iter=1000, tol=1e-12)
    assert np.allclose(ours.weight.numpy(), reference.coef_, atol=1e-4)
    assert np.allclose(ours.bias.numpy(), reference.intercept_, atol=1e-4)
    probs = torch.softmax(ours.logits(torch.from_numpy(xte)), 1).numpy()
    assert np.abs(probs - reference.predict_proba(xte)).max() < 1e-4


def test_protocol_matches_sklearn_on_test(stores, tmp_path):
    """C chosen on val, refitted on train+val, scored on test: the same C and top-1 within a point."""
    xtr, ytr, xva, yva, xte, yte = stores["arrays"]
    cs = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    val_scores = [LogisticRegression(C=c, max_iter=10000).fit(xtr, ytr).score(xva, yva) for c in cs]
    best = cs[int(np.argmax(val_scores))]
    theirs = LogisticRegression(C=best, max_iter=10000).fit(np.r_[xtr, xva], np.r_[ytr, yva]).score(xte, yte)
    options = TASKS.get("logreg").parse_options({"cs": cs})
    path = run_probe(
        "logreg", stores["train"], tmp_path, val=stores["val"], test=stores["test"], options=options, progress=False
    )
    result = json.loads(path.read_text())
    assert [row["val_score"] for row in result["probe"]["grid"]] == pytest.approx(val_scores, abs=0.01)
    assert result["probe"]["chosen"]["C"] == best and result["probe"]["settings"]["refit_on_train_val"]
    assert abs(result["metrics"]["top1"] - theirs) <= 0.01, (result["metrics"]["top1"], theirs)
    assert 0.5 < theirs < 0.98 and result["metrics"]["num_samples"] == 500


def test_without_a_test_store_val_is_not_refitted_on(stores, tmp_path):
    options = TASKS.get("logreg").parse_options({"cs": (0.1,)})
    result = json.loads(
        run_probe("logreg", stores["train"], tmp_path, val=stores["val"], options=options, progress=False).read_text()
    )
    assert result["evaluated_on"] == "val" and not result["probe"]["settings"]["refit_on_train_val"]
    assert "no test store" in result["probe"]["settings"]["no_refit_because"]


def test_too_large_features_are_one_line_naming_the_size_and_the_fix(stores, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "probe",
            "--task",
            "logreg",
            "--features",
            str(stores["train"]),
            "--val",
            str(stores["val"]),
            "--max-memory-gb",
            "0.00001",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert (
        "550 samples x 16 dims in float64 = 7.04e-05 GB, over --max-memory-gb 1e-05" in result.output
        and "--task knn or classification" in result.output
    )


def test_bad_options_are_one_line():
    with pytest.raises(ProbekitError, match="cs must be finite numbers > 0"):
        TASKS.get("logreg").parse_options({"cs": "0.1,-1"})
