"""The under-training guard: the issue's small-data case warns (JSON, stderr, table); a well-trained probe does not."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from probekit.cli import app
from probekit.report.table import write_tables
from probekit.tasks import TASKS, run_probe
from probekit.tasks.base import Column, TaskOutput
from probekit.tasks.guard import MIN_STEPS, below_trivial, loss_flat, run_warnings, undertraining_warnings
from tests.store_factory import write_store

N, h, w, P = 48, 4, 4, 4  # images of 16x16 px, 4x4 patches of 4 px


def _segmentation_store(path, n: int, seed: int):
    """Features that encode each patch's class (one-hot of 3), blocky masks: a linear head can be perfect."""
    rng = np.random.default_rng(seed)
    patch_class = rng.integers(0, 3, size=(n, h, w))
    mask = patch_class.repeat(P, 1).repeat(P, 2).astype(np.uint8)
    features = np.eye(3, dtype=np.float32)[patch_class]  # (n, h, w, 3)
    return write_store(path, features, {"mask": (mask, {"num_classes": 3, "ignore_index": 255})})


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("guard")
    return {
        "small": _segmentation_store(root / "small.h5", 6, 0),  # the 6-image train split
        "train": _segmentation_store(root / "train.h5", N, 0),
        "val": _segmentation_store(root / "val.h5", N, 1),
    }


def test_the_small_data_case_warns_in_the_json_on_stderr_and_in_the_table(stores, tmp_path):
    """Issue 14: 6 training images, the old default of 10 epochs = 10 optimizer steps, exit 0 and a normal JSON.
    Now the run names the cause and the fix."""
    args = ["probe", "--task", "segmentation", "--features", str(stores["small"]), "--val", str(stores["val"])]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path), "--epochs", "10", "--quiet"])
    assert result.exit_code == 0, result.output
    [path] = tmp_path.glob("segmentation__*.json")
    data = json.loads(path.read_text())
    assert data["probe"]["schedule"]["steps"] == 10 and data["probe"]["schedule"]["from_epochs"] == 10
    causes = [w["cause"] for w in data["warnings"]]
    assert "few_steps" in causes and "scoring_frame" in causes
    assert "probekit: warning: segmentation: only 10 optimizer steps were taken, fewer than 100: pass --iters" in (
        result.stderr
    )
    assert all(line.startswith("probekit: warning: ") for line in result.stderr.splitlines()), result.stderr
    assert "keeps no original-resolution mask" in result.stderr  # factory stores keep no originals: said, not hidden
    markdown, _ = write_tables(tmp_path)
    assert "!" in markdown.split("\n\n")[0].splitlines()[-1]  # the run's cells are marked
    assert "may be undertrained (" in markdown and path.name in markdown


def test_a_well_trained_probe_has_no_warning(stores, tmp_path):
    options = TASKS.get("segmentation").parse_options(
        {"lrs": (3e-2,), "iters": 300, "batch_size": 8, "score_at": "stored"}  # factory stores keep no originals
    )
    path = run_probe("segmentation", stores["train"], tmp_path, val=stores["val"], options=options, progress=False)
    data = json.loads(path.read_text())
    assert data["metrics"]["mIoU"] > 0.95 and data["warnings"] == []
    schedule = data["probe"]["schedule"]
    assert (schedule["iters"], schedule["steps"], schedule["samples_seen"]) == (300, 300, 300 * 8)
    assert schedule["scheduler"] == "poly" and schedule["warmup_iters"] == round(300 * 1500 / 40000)
    assert schedule["eval_every"] == 30 and schedule["from_epochs"] is None


def _output(metric: float, trivial: float) -> TaskOutput:
    return TaskOutput(
        metrics={"m": metric},
        chosen={},
        grid=[],
        head_state={},
        settings={},
        trivial={"predictor": "mean", "m": trivial},
        schedule={"steps": 500, "iters": 500},
        train_losses=np.linspace(2.0, 0.5, 500),
    )


@pytest.mark.parametrize(
    ("higher_is_better", "metric", "trivial", "warns"),
    [
        (True, 0.5, 0.4, False),
        (True, 0.4, 0.4, True),
        (True, 0.3, 0.4, True),
        (False, 0.3, 0.4, False),
        (False, 0.5, 0.4, True),
    ],
)
def test_the_trivial_comparison_follows_the_metric_direction(higher_is_better, metric, trivial, warns):
    column = Column("m", "m", higher_is_better, False)
    assert (below_trivial(column, _output(metric, trivial), 500) is not None) == warns


def test_the_loss_must_fall_by_a_tenth():
    assert loss_flat(np.linspace(1.0, 0.85, 100), 100) is None  # first 10% mean ~0.993, last ~0.857
    assert loss_flat(np.linspace(1.0, 0.95, 100), 100)["cause"] == "loss_flat"
    assert loss_flat(np.full(100, -1.0), 100)["cause"] == "loss_flat"  # a negative loss that stays put
    converged_early = np.concatenate([np.linspace(2.0, 0.5, 100), np.full(9900, 0.5)])  # a long, easy run
    assert loss_flat(converged_early, 10000) is None  # compared with its first 50 steps, not its first 1000


def test_untrained_runs_are_not_guarded():
    output = _output(0.1, 0.9)
    assert [w["cause"] for w in undertraining_warnings(Column("m", "m", True, False), output)] == ["below_trivial"]
    output.schedule, output.train_losses = {}, None  # zero-shot correspondence: nothing was trained
    assert undertraining_warnings(Column("m", "m", True, False), output) == []
    assert MIN_STEPS == 100


def test_an_untrained_run_is_compared_with_the_trivial_predictor_without_naming_iters():
    """kNN / logistic regression / zero-shot train nothing: below-trivial still warns, but --iters is no fix."""
    output = _output(0.1, 0.2)
    output.schedule, output.train_losses = {}, None
    [warning] = run_warnings(Column("m", "m", True, False), output)
    assert warning["cause"] == "below_trivial" and "--iters" not in warning["message"]
    output.metrics["m"] = 0.3
    assert run_warnings(Column("m", "m", True, False), output) == []
