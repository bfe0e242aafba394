"""`probekit probe` and `probekit table` through CliRunner on real (tiny) synthetic stores."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from probekit.cli import app
from probekit.features import ExtractConfig, extract

runner = CliRunner()


def test_probe_all_tasks_then_table(tmp_path, tiny_store):
    val = extract(
        ExtractConfig(
            backbone="test-dinov2",
            random_init=True,
            image_size=(56, 84),
            layers="1,-1",
            batch_size=5,
            workers=0,
            limit=8,
            split="val",
        ),
        tmp_path / "val.h5",
        progress=False,
    )
    out = tmp_path / "results"
    for task, extra in (
        ("classification", ["--lrs", "0.01,0.1"]),
        ("segmentation", ["--lrs", "0.001"]),
        ("depth", ["--lrs", "0.001", "--n-bins", "32"]),
    ):
        result = runner.invoke(
            app,
            [
                "probe",
                "--task",
                task,
                "--features",
                str(tiny_store),
                "--val",
                str(val),
                "--out",
                str(out),
                "--epochs",
                "2",
                "--quiet",
                *extra,
            ],
        )
        assert result.exit_code == 0, result.output
        # --quiet: nothing but errors and warnings (two epochs of a tiny store: the under-training guard warns)
        assert all(line.startswith("probekit: warning: ") for line in result.output.splitlines()), result.output
    saved = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert sorted(r["task"] for r in saved) == ["classification", "depth", "segmentation"]
    table = runner.invoke(app, ["table", str(out)])
    assert table.exit_code == 0, table.output
    assert "| test-dinov2 (random init) |" in table.output and "seg mIoU" in table.output
    assert "may be undertrained (" in table.output  # the warned cells are marked and explained
    assert (out / "table.csv").exists() and (out / "table.tex").exists()


def test_probe_errors_are_one_line(tmp_path, tiny_store):
    cases = [
        (["probe", "--task", "captioning", "--features", str(tiny_store)], "unknown task"),
        (["probe", "--task", "depth", "--features", str(tmp_path / "none.h5")], "does not exist"),
        (["probe", "--task", "classification", "--features", str(tiny_store), "--pooling", "max"], "unknown pooling"),
        (["table", str(tmp_path)], "no probekit results"),
    ]
    for args, expected in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output, (args, result.output)


def test_bad_depth_options_fail_before_training(tiny_store):
    for args, expected in (
        (["--head", "conv"], "unknown head"),
        (["--prediction", "softmax"], "unknown depth prediction"),
        (["--bin-spacing", "cubic"], "linear or log"),
        (["--crop", "center"], "eigen, garg or none"),
    ):
        result = runner.invoke(app, ["probe", "--task", "depth", "--features", str(tiny_store), *args])
        assert result.exit_code == 2 and expected in result.output, result.output


def test_probe_seeds_flag(tmp_path, tiny_store):
    args = ["probe", "--task", "knn", "--features", str(tiny_store), "--val", str(tiny_store), "--ks", "1"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path), "--seeds", "0,1"])
    assert result.exit_code == 0, result.output
    saved = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert saved["seeds"]["runs"] == 1 and saved["seeds"]["deterministic"].startswith("kNN has no randomness")
    assert set(saved["metrics_ci"]) == {"top1", "mean_per_class_recall"}
    bad = runner.invoke(app, [*args, "--seeds", "0,0"])
    assert bad.exit_code == 2 and "seeds must be distinct" in bad.output, bad.output
