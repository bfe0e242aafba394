"""`probekit probe --task correspondence` through CliRunner on a tiny pair store, then the table."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from probekit.cli import app
from tests.correspondence.pair_store import write_pair_store

runner = CliRunner()


def test_zero_shot_and_trained_from_the_cli_then_table(tmp_path):
    store = write_pair_store(tmp_path / "pairs.h5", 8, "oracle")
    out = tmp_path / "results"
    result = runner.invoke(
        app,
        [
            "probe",
            "--task",
            "correspondence",
            "--features",
            str(store),
            "--out",
            str(out),
            "--mutual",
            "--soft-argmax",
            "0.05",
            "--upsample",
            "2",
            "--alphas",
            "0.05,0.1",
            "--pck-reference",
            "image",
            "--convention",
            "sd-dino",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("correspondence on test:") and "pck_image@0.1=" in result.output
    saved = json.loads(next(out.glob("*.json")).read_text())
    assert saved["evaluated_store"] == "pairs.h5" and saved["probe"]["settings"]["convention"] == "sd-dino"
    assert saved["metrics"]["alphas"] == [0.05, 0.1] and "mutual_nn" in saved["metrics"]
    table = runner.invoke(app, ["table", str(out)])
    assert table.exit_code == 0 and "corr PCK@0.1" in table.output, table.output
    bad = runner.invoke(app, ["probe", "--task", "correspondence", "--features", str(store), "--projection", "triplet"])
    assert bad.exit_code == 2 and "unknown --projection" in bad.output, bad.output
    trained = runner.invoke(
        app,
        [
            "probe",
            "--task",
            "correspondence",
            "--features",
            str(store),
            "--val",
            str(store),
            "--out",
            str(out),
            "--projection",
            "infonce",
            "--epochs",
            "1",
            "--lrs",
            "0.01",
            "--quiet",
        ],
    )
    assert trained.exit_code == 0, trained.output
