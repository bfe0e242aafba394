"""Task options: one parse function for the CLI and suites, documented fields, defaults that fit the store,
and `probekit probe` = a suite run for the same settings (same file, same numbers)."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probekit.benchmark import Suite, run_suite
from probekit.cli import app
from probekit.errors import ProbekitError
from probekit.features import ExtractConfig, extract
from probekit.tasks import TASKS, run_probe

runner = CliRunner()
# Fields that differ between runs of the same settings (time, machine, software).
VOLATILE = {"created", "wall_seconds", "versions", "git_sha"}
SUITE_TASKS = {
    "classification": {"epochs": 2, "batch_size": 4, "lrs": [0.1, 0.5], "n_blocks": [1]},
    "depth": {"epochs": 1, "batch_size": 4, "optimizer": "adamw", "lrs": [0.001], "n_bins": 16},
}
CLI_FLAGS = {
    "classification": ["--epochs", "2", "--batch-size", "4", "--lrs", "0.1,0.5", "--n-blocks", "1"],
    "depth": ["--epochs", "1", "--batch-size", "4", "--optimizer", "adamw", "--lrs", "0.001", "--n-bins", "16"],
}


@pytest.mark.parametrize("task", list(TASKS))
def test_every_option_is_documented_and_has_a_default(task):
    for f in fields(TASKS.get(task).options_type):
        assert f.metadata.get("help", "").strip(), f"{task}.{f.name} has no help"
        assert f.default is not MISSING, f"{task}.{f.name} has no default"


def test_defaults_are_the_protocols():
    """Batch size and optimiser as the old CLI defaults; the length in optimizer steps from each task's protocol
    (docs/protocols/<task>.md), with its warm-up (steps, starting fraction of the rate) and scheduler."""
    protocol = {
        "classification": (12500, 0, 1e-6, "cosine", 128, "sgd"),
        "segmentation": (40000, 1500, 1e-6, "poly", 16, "adamw"),
        "depth": (38400, 12800, 1e-3, "cosine", 16, "adamw"),
        "correspondence": (1000, 0, 1e-6, "cosine", 8, "adamw"),
    }
    for task, expected in protocol.items():
        options = TASKS.get(task).parse_options({})
        train = options.train_config()
        warmup = train.warmup(train.total_iters(1))
        got = (train.iters, warmup, train.warmup_ratio, train.scheduler, train.batch_size, train.optimizer)
        assert got == expected, task
        assert options.epochs is None
    assert TASKS.get("classification").parse_options({}).pooling == ("cls", "cls+mean")
    assert TASKS.get("classification").parse_options({}).n_blocks == (1, 4)
    assert TASKS.get("depth").parse_options({}).weight_decays == (1e-4,)


def test_cli_strings_and_yaml_values_parse_alike():
    depth = TASKS.get("depth")
    from_cli = depth.parse_options({"lrs": "0.001,0.01", "n_bins": "16", "with_cls": "false", "layers": "-1"})
    from_yaml = depth.parse_options({"lrs": [0.001, 0.01], "n_bins": 16, "with_cls": False, "layers": -1})
    assert from_cli == from_yaml and from_cli.layers == (-1,) and from_cli.with_cls is False


@pytest.mark.parametrize(
    ("task", "values", "expected"),
    [
        ("depth", {"pooling": "cls"}, "has no option(s) pooling; valid: layers, seed, seeds, lrs"),
        ("classification", {"n_bins": 3}, "has no option(s) n_bins"),
        ("depth", {"n_bins": "many"}, "option n_bins: 'many' is not an int"),
        ("depth", {"n_bins": 2.5}, "option n_bins: 2.5 is not an int"),
        ("depth", {"bin_spacing": "cubic"}, "unknown bin_spacing 'cubic': use linear or log"),
        ("classification", {"pooling": "cls,max"}, "unknown pooling 'max': use cls, cls+mean or mean"),
        ("classification", {"epochs": 0}, "epochs must be a positive integer"),
        ("segmentation", {"iters": 10, "epochs": 2}, "iters 10 and epochs 2 both give the training length"),
        ("depth", {"scheduler": "step"}, "unknown scheduler 'step'"),
        ("classification", {"iters": 0}, "iters must be a positive integer"),
        ("segmentation", {"lrs": [0.1, -1]}, "lrs holds -1.0"),
        ("segmentation", {"weight_decays": "nan"}, "weight_decays holds nan"),
        ("depth", {"min_depth": 5, "max_depth": 1}, "--min-depth 5 must be below --max-depth 1"),
        ("correspondence", {"window": 4}, "--window must be odd"),
        ("correspondence", {"mutual": "maybe"}, "option mutual: 'maybe' is not a bool"),
    ],
)
def test_bad_options_are_one_line_naming_them(task, values, expected):
    with pytest.raises(ProbekitError, match=None) as error:
        TASKS.get(task).parse_options(values)
    message = str(error.value)
    assert expected in message and "\n" not in message


def test_run_probe_refuses_a_plain_dict(tiny_store, tmp_path):
    with pytest.raises(ProbekitError, match="takes DepthOptions, not dict"):
        run_probe("depth", tiny_store, tmp_path, options={"n_bins": 16})


def _comparable(path: Path) -> dict:
    result = json.loads(path.read_text())
    return {k: v for k, v in result.items() if k not in VOLATILE}


def test_probe_and_suite_write_the_same_results(tmp_path):
    """A suite and `probekit probe` with the same settings on the same stores: same file name, same JSON."""
    suite = Suite(
        name="same",
        image_size=[32, 48],
        splits={"train": 12, "val": 6},
        layers="-1",
        workers=0,
        backbones=[{"backbone": "test-vit", "random_init": True}],
        tasks=SUITE_TASKS,
    )
    run_suite(suite, tmp_path / "suite", progress=False)
    stores = tmp_path / "suite" / "features"
    train, val = (
        stores / "test-vit-random0-synthetic-train-32x48-n12.h5",
        stores / "test-vit-random0-synthetic-val-32x48-n6.h5",
    )
    for task in SUITE_TASKS:
        result = runner.invoke(
            app,
            [
                "probe",
                "--task",
                task,
                "--features",
                str(train),
                "--val",
                str(val),
                "--out",
                str(tmp_path / "cli"),
                "--quiet",
                *CLI_FLAGS[task],
            ],
        )
        assert result.exit_code == 0 and _only_warnings(result.output), result.output
        [from_cli] = (tmp_path / "cli").glob(f"{task}__*.json")
        from_suite = tmp_path / "suite" / "results" / from_cli.name
        assert from_suite.is_file(), f"the suite wrote no {from_cli.name}"
        assert _comparable(from_cli) == _comparable(from_suite)


def test_dense_tasks_default_to_the_last_stored_layer(tmp_path):
    """A store holding only block 1 (of the tiny model's blocks): no --layers uses it, no 're-extract'."""
    store = extract(
        ExtractConfig(
            backbone="test-dinov2", random_init=True, image_size=(56, 84), layers="1", batch_size=6, workers=0, limit=12
        ),
        tmp_path / "one.h5",
        progress=False,
    )
    for task in ("segmentation", "depth"):
        result = runner.invoke(
            app,
            [
                "probe",
                "--task",
                task,
                "--features",
                str(store),
                "--val",
                str(store),
                "--out",
                str(tmp_path / "out"),
                "--epochs",
                "1",
                "--lrs",
                "0.001",
                "--quiet",
            ],
        )
        assert result.exit_code == 0, result.output
        [path] = (tmp_path / "out").glob(f"{task}__*.json")
        assert json.loads(path.read_text())["probe"]["settings"]["layers"] == [1]


def test_layers_the_store_lacks_name_the_stored_ones(tiny_store, tmp_path):
    result = runner.invoke(
        app, ["probe", "--task", "depth", "--features", str(tiny_store), "--layers", "0", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().startswith("probekit: error:") and "has layers [1, 3], not 0" in result.output


def test_an_option_of_another_task_is_refused(tiny_store, tmp_path):
    result = runner.invoke(
        app, ["probe", "--task", "depth", "--features", str(tiny_store), "--pooling", "cls", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "--pooling is not an option of the depth task" in result.output and "--n-bins" in result.output


def _only_warnings(output: str) -> bool:
    """Nothing printed but the under-training guard's warnings (these tiny runs take a handful of steps)."""
    return all(line.startswith("probekit: warning: ") for line in output.splitlines())


def test_quiet_prints_nothing_but_errors_and_warnings(tiny_store, tmp_path):
    args = [
        "probe",
        "--task",
        "classification",
        "--features",
        str(tiny_store),
        "--val",
        str(tiny_store),
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--lrs",
        "0.1",
    ]
    quiet = runner.invoke(app, [*args, "--quiet"])
    assert quiet.exit_code == 0 and quiet.stdout == "" and _only_warnings(quiet.stderr)
    assert "probekit: warning: classification: only 1 optimizer steps were taken" in quiet.stderr
    loud = runner.invoke(app, [*args, "--overwrite"])
    assert loud.exit_code == 0 and loud.stdout.startswith("classification on val:")
