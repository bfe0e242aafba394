"""Adding a task needs no edit inside probekit: a toy task module from tests/ registers itself and runs
through run_probe, the results JSON and the comparison table like the shipped tasks."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from probekit.report.table import write_tables
from probekit.tasks import TASKS, run_probe
from tests.store_factory import write_store

PLUGIN = Path(__file__).parent / "plugins" / "mean_regression.py"


def _register(monkeypatch):
    """Import the plugin module (which registers its task) into a throw-away copy of the registry."""
    monkeypatch.setattr(TASKS, "_items", dict(TASKS._items))
    spec = importlib.util.spec_from_file_location("probekit_test_mean_regression", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


def _store(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    patch = rng.normal(size=(40, 2, 2, 6)).astype(np.float32)  # (N, h, w, D)
    value = (patch.mean(axis=(1, 2)) @ np.arange(1.0, 7.0)).astype(np.float32)  # (N,) linear in the CLS
    return write_store(path, patch, {"value": (value, {})})


def test_a_task_from_outside_probekit_runs_and_tabulates(tmp_path, monkeypatch):
    _register(monkeypatch)
    task = TASKS.get("mean-regression")
    options = task.parse_options({"epochs": "40", "lrs": "0.1"})
    path = run_probe(
        "mean-regression",
        _store(tmp_path / "train.h5", 0),
        tmp_path / "out",
        val=_store(tmp_path / "val.h5", 1),
        options=options,
        progress=False,
    )
    result = json.loads(path.read_text())
    assert result["probe"]["options"]["lrs"] == [0.1] and result["probe"]["options"]["epochs"] == 40
    assert result["metrics"]["mse"] < 0.5 * result["trivial_baseline"]["mse"]
    markdown, _ = write_tables(tmp_path / "out")
    assert markdown.splitlines()[0] == "| backbone | mean-reg MSE |"
    assert markdown.splitlines()[2].startswith("| no features (training mean) |")
    assert markdown.splitlines()[3].startswith("| fake |")


def test_the_cli_runs_a_new_task_through_opt(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from probekit.cli import app

    _register(monkeypatch)
    train, val = _store(tmp_path / "train.h5", 0), _store(tmp_path / "val.h5", 1)
    args = [
        "probe",
        "--task",
        "mean-regression",
        "--features",
        str(train),
        "--val",
        str(val),
        "--out",
        str(tmp_path / "out"),
        "--opt",
        "epochs=3",
        "--opt",
        "lrs=0.1",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0 and result.stdout.startswith("mean-regression on val: mse="), result.output
    bad = CliRunner().invoke(app, [*args, "--pooling", "cls"])
    assert bad.exit_code == 2 and "--pooling is not an option of the mean-regression task" in bad.output
