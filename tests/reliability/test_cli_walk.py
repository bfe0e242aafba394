"""Every CLI command walked with invalid inputs: one line (or typer's usage error), exit 2, never a traceback.

Each case fails before any real work (no backbone is run, no store is written), so the walk is fast.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from probekit.cli import app
from tests.store_factory import write_store

runner = CliRunner()

EXTRACT = [
    "extract",
    "--backbone",
    "test-dinov2",
    "--random-init",
    "--image-size",
    "28",
    "--limit",
    "2",
    "--workers",
    "0",
    "--quiet",
    "--out",
    "{tmp}/o.h5",
]
PROBE = [
    "probe",
    "--task",
    "classification",
    "--features",
    "{store}",
    "--val",
    "{store}",
    "--out",
    "{tmp}/res",
    "--epochs",
    "1",
    "--quiet",
]
SHOW = ["--synthetic", "0", "--backbone", "test-dinov2", "--random-init", "--image-size", "28", "--out", "{tmp}/o.png"]
PRETRAIN = ["pretrain", "--out", "{tmp}/pt", "--steps", "1", "-q"]
GOOD_SUITE = (
    "name: x\nbackbones: [{backbone: test-dinov2, random_init: true}]\ntasks: {classification: {}}\n"
    "splits: {train: 4}\nimage_size: 28\n"
)

# (id, argv, text the error must contain); argv may use {tmp}, {store} and the files made in `files`
CASES = [
    # extract
    ("extract-batch-size-0", [*EXTRACT, "--batch-size", "0"], "--batch-size"),
    ("extract-limit-0", [*EXTRACT, "--limit", "0"], "--limit"),
    ("extract-limit-negative", [*EXTRACT, "--limit", "-3"], "--limit"),
    ("extract-workers-negative", [*EXTRACT, "--workers", "-1"], "--workers"),
    ("extract-image-size-0x5", [*EXTRACT, "--image-size", "0x5"], "'0x5'"),
    ("extract-image-size-abc", [*EXTRACT, "--image-size", "abc"], "'abc'"),
    ("extract-device-gpu", [*EXTRACT, "--device", "gpu"], "--device 'gpu'"),
    ("extract-device-cuda-9", [*EXTRACT, "--device", "cuda:9"], "--device cuda:9"),
    ("extract-dtype-float8", [*EXTRACT, "--dtype", "float8"], "--dtype"),
    ("extract-seed-negative", [*EXTRACT, "--seed", "-1"], "--seed"),
    ("extract-subset-seed-negative", [*EXTRACT, "--subset-seed", "-1"], "--subset-seed"),
    ("extract-impl-unknown", [*EXTRACT, "--impl", "jax"], "--impl"),
    ("extract-config-malformed", [*EXTRACT, "--config", "{tmp}/bad.yaml"], "bad.yaml:3:1: not valid YAML"),
    ("extract-config-missing", [*EXTRACT, "--config", "{tmp}/none.yaml"], "none.yaml does not exist"),
    ("extract-config-batch-size-0", [*EXTRACT, "--config", "{tmp}/batch0.yaml"], "batch0.yaml: batch_size must be"),
    ("extract-out-under-a-file", [*EXTRACT[:-1], "{tmp}/afile/o.h5"], "afile is a file"),
    ("extract-out-is-a-directory", [*EXTRACT[:-1], "{tmp}/adir"], "is a directory"),
    ("extract-missing-out", ["extract", "--backbone", "test-dinov2"], "--out"),
    ("extract-batch-size-not-int", [*EXTRACT, "--batch-size", "x"], "--batch-size"),
    # info
    ("info-missing", ["info", "{tmp}/none.h5"], "does not exist"),
    ("info-text-file", ["info", "{tmp}/text.h5"], "not a readable HDF5 file"),
    ("info-empty-file", ["info", "{tmp}/empty.h5"], "not a readable HDF5 file"),
    ("info-directory", ["info", "{tmp}/adir"], "adir is a directory"),
    # probe
    ("probe-task-unknown", [*PROBE[:2], "captioning", *PROBE[3:]], "unknown task"),
    ("probe-epochs-0", [*PROBE, "--epochs", "0"], "--epochs"),
    ("probe-epochs-negative", [*PROBE, "--epochs", "-1"], "--epochs"),
    ("probe-batch-size-0", [*PROBE, "--batch-size", "0"], "--batch-size"),
    ("probe-lrs-nan", [*PROBE, "--lrs", "nan"], "--lrs"),
    ("probe-lrs-abc", [*PROBE, "--lrs", "abc"], "--lrs"),
    ("probe-lrs-negative", [*PROBE, "--lrs", "-1"], "--lrs"),
    ("probe-lrs-empty", [*PROBE, "--lrs", ""], "--lrs"),
    ("probe-lrs-empty-item", [*PROBE, "--lrs", "0.1,,1"], "--lrs"),
    ("probe-weight-decays-negative", [*PROBE, "--weight-decays", "-1"], "--weight-decays"),
    ("probe-n-blocks-above-layers", [*PROBE, "--n-blocks", "4"], "layers [11]"),
    ("probe-n-blocks-0", [*PROBE, "--n-blocks", "0"], "--n-blocks"),
    ("probe-layers-not-stored", [*PROBE, "--layers", "7"], "has layers [11], not 7"),
    ("probe-layers-abc", [*PROBE, "--layers", "abc"], "--layers"),
    ("probe-sweep-layers-abc", [*PROBE, "--sweep-layers", "1,x"], "--sweep-layers '1,x'"),
    ("probe-sweep-layers-with-layers", [*PROBE, "--sweep-layers", "all", "--layers", "11"], "--layers and --sweep"),
    ("probe-sweep-layers-not-stored", [*PROBE, "--sweep-layers", "7,11"], "has layers [11], not 7"),
    ("probe-corr-sweep-layers", [*PROBE, "--task", "correspondence", "--sweep-layers", "all"], "no head per layer"),
    ("probe-pooling-unknown", [*PROBE, "--pooling", "max"], "unknown pooling"),
    ("probe-early-stopping-0", [*PROBE, "--early-stopping", "0"], "--early-stopping"),
    ("probe-optimizer-unknown", [*PROBE, "--optimizer", "lion"], "--optimizer"),
    ("probe-seed-negative", [*PROBE, "--seed", "-1"], "--seed"),
    ("probe-device-gpu", [*PROBE, "--device", "gpu"], "--device 'gpu'"),
    ("probe-depth-min-above-max", [*PROBE, "--task", "depth", "--min-depth", "5", "--max-depth", "1"], "--min-depth 5"),
    ("probe-depth-min-negative", [*PROBE, "--task", "depth", "--min-depth", "-1"], "--min-depth"),
    ("probe-depth-n-bins-0", [*PROBE, "--task", "depth", "--n-bins", "0"], "--n-bins"),
    (
        "probe-depth-gradient-weight-negative",
        [*PROBE, "--task", "depth", "--gradient-weight", "-1"],
        "--gradient-weight",
    ),
    ("probe-depth-head-unknown", [*PROBE, "--task", "depth", "--head", "conv"], "unknown head"),
    ("probe-corr-window-even", [*PROBE, "--task", "correspondence", "--window", "2"], "--window"),
    ("probe-corr-upsample-0", [*PROBE, "--task", "correspondence", "--upsample", "0"], "--upsample"),
    ("probe-corr-alphas-above-1", [*PROBE, "--task", "correspondence", "--alphas", "2"], "--alphas"),
    ("probe-corr-alphas-0", [*PROBE, "--task", "correspondence", "--alphas", "0,0.1"], "--alphas"),
    ("probe-corr-temperature-0", [*PROBE, "--task", "correspondence", "--temperature", "0"], "--temperature"),
    ("probe-corr-projection-dim-0", [*PROBE, "--task", "correspondence", "--projection-dim", "0"], "--projection-dim"),
    ("probe-features-missing", ["probe", "--task", "depth", "--features", "{tmp}/none.h5"], "does not exist"),
    ("probe-features-text", ["probe", "--task", "depth", "--features", "{tmp}/text.h5"], "not a readable HDF5"),
    ("probe-out-is-a-file", [*PROBE[:5], "--out", "{tmp}/afile"], "is a file, not a directory"),
    # table
    ("table-missing-dir", ["table", "{tmp}/nodir"], "is not a directory of results"),
    ("table-empty-dir", ["table", "{tmp}/adir"], "no probekit results"),
    # benchmark
    ("benchmark-missing", ["benchmark", "{tmp}/none.yaml"], "does not exist"),
    ("benchmark-malformed", ["benchmark", "{tmp}/bad.yaml"], "bad.yaml:3:1: not valid YAML"),
    ("benchmark-unknown-keys", ["benchmark", "{tmp}/unknown.yaml"], "unknown suite keys colour; allowed keys"),
    ("benchmark-backbones-int", ["benchmark", "{tmp}/bb3.yaml"], "backbones must be a list"),
    ("benchmark-backbones-strings", ["benchmark", "{tmp}/bbstr.yaml"], "{backbone: test-dinov2}"),
    ("benchmark-tasks-list", ["benchmark", "{tmp}/tasklist.yaml"], "tasks must be a mapping"),
    ("benchmark-split-negative", ["benchmark", "{tmp}/splitneg.yaml"], "splits: train: -1"),
    ("benchmark-task-unknown", ["benchmark", "{tmp}/unktask.yaml"], "unknown task 'clasification'"),
    ("benchmark-task-epochs-0", ["benchmark", "{tmp}/epochs0.yaml"], "tasks: classification: epochs"),
    ("benchmark-baselines-unknown", ["benchmark", "{tmp}/baselines.yaml"], "baselines must be none or a list"),
    ("benchmark-image-sizes-twice", ["benchmark", "{tmp}/sizes.yaml"], "image_sizes [96, 96] lists a size twice"),
    ("benchmark-suite-is-a-list", ["benchmark", "{tmp}/list.yaml"], "not a list"),
    ("benchmark-out-is-a-file", ["benchmark", "{tmp}/good.yaml", "--out", "{tmp}/afile"], "is a file"),
    # backbones, datasets
    ("backbones-unknown-option", ["backbones", "--bogus"], "--bogus"),
    ("datasets-unknown", ["datasets", "nope"], "unknown dataset 'nope'"),
    ("datasets-root-missing", ["datasets", "voc", "--root", "{tmp}/nodir"], "is not a directory"),
    # show
    ("show-pca-no-input", ["show", "pca"], "nothing to show"),
    ("show-pca-features-missing", ["show", "pca", "--features", "{tmp}/none.h5", "--index", "0"], "does not exist"),
    ("show-pca-image-size-abc", ["show", "pca", *SHOW, "--image-size", "abc"], "--image-size"),
    ("show-pca-fit-unknown", ["show", "pca", *SHOW, "--fit", "squash"], "--fit"),
    ("show-pca-gap-negative", ["show", "pca", *SHOW, "--gap", "-1"], "--gap"),
    ("show-pca-seed-negative", ["show", "pca", *SHOW, "--seed", "-1"], "--seed"),
    ("show-pca-out-under-a-file", ["show", "pca", *SHOW[:-1], "{tmp}/afile/x.png"], "afile is a file"),
    ("show-pca-out-is-a-directory", ["show", "pca", *SHOW[:-1], "{tmp}/adir"], "is a directory"),
    (
        "show-pca-index-out-of-range",
        ["show", "pca", "--features", "{store}", "--index", "99", "--out", "{tmp}/o.png"],
        "holds features, not images",
    ),
    ("show-similarity-alpha-2", ["show", "similarity", "--point", "1,1", "--alpha", "2", *SHOW], "--alpha"),
    (
        "show-similarity-point-abc",
        ["show", "similarity", "--point", "abc", "--features", "{store}", "--index", "0", "--out", "{tmp}/o.png"],
        "bad point 'abc'",
    ),
    ("show-correspondence-num-matches-0", ["show", "correspondence", "--num-matches", "0", *SHOW], "--num-matches"),
    (
        "show-prediction-results-missing",
        ["show", "prediction", "--results", "{tmp}/none.json", *SHOW[:2]],
        "does not exist",
    ),
    (
        "show-prediction-alpha-negative",
        ["show", "prediction", "--results", "{tmp}/none.json", "--alpha", "-0.1"],
        "--alpha",
    ),
    # pretrain
    ("pretrain-steps-0", [*PRETRAIN, "--steps", "0"], "--steps"),
    ("pretrain-batch-size-1", [*PRETRAIN, "--batch-size", "1"], "--batch-size"),
    ("pretrain-max-minutes-negative", [*PRETRAIN, "--max-minutes", "-1"], "--max-minutes"),
    ("pretrain-workers-negative", [*PRETRAIN, "--workers", "-1"], "--workers"),
    ("pretrain-device-gpu", [*PRETRAIN, "--device", "gpu"], "--device 'gpu'"),
    ("pretrain-config-malformed", [*PRETRAIN, "--config", "{tmp}/bad.yaml"], "bad.yaml:3:1: not valid YAML"),
    ("pretrain-out-is-a-file", ["pretrain", "--out", "{tmp}/afile", "--steps", "1", "-q"], "is a file"),
    ("pretrain-global-size-not-patch-multiple", [*PRETRAIN, "--global-size", "30"], "not a multiple of the patch"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """A one-layer labelled store, and the broken files the cases point at."""
    tmp = tmp_path_factory.mktemp("walk")
    rng = np.random.default_rng(0)
    labels = (np.arange(8) % 2).astype(np.int64)
    store = write_store(
        tmp / "train.h5", rng.normal(size=(8, 2, 2, 4)).astype(np.float32), {"label": (labels, {"num_classes": 2})}
    )
    suite = "name: x\nbackbones: [{backbone: test-dinov2, random_init: true}]\n"
    texts = {
        "text.h5": "not hdf5\n",
        "empty.h5": "",
        "afile": "x",
        "bad.yaml": "name: x\nbackbones: [a\n: b\n",
        "unknown.yaml": suite + "tasks: {classification: {}}\ncolour: red\n",
        "bb3.yaml": "name: x\nbackbones: 3\ntasks: {classification: {}}\n",
        "bbstr.yaml": "name: x\nbackbones: [test-dinov2]\ntasks: {classification: {}}\n",
        "tasklist.yaml": suite + "tasks: [a]\n",
        "splitneg.yaml": suite + "tasks: {classification: {}}\nsplits: {train: -1}\n",
        "unktask.yaml": suite + "tasks: {clasification: {}}\n",
        "epochs0.yaml": suite + "tasks: {classification: {epochs: 0}}\n",
        "baselines.yaml": suite + "tasks: {classification: {}}\nbaselines: [pixel]\n",
        "sizes.yaml": suite + "tasks: {classification: {}}\nimage_sizes: [96, 96]\n",
        "list.yaml": "- a\n- b\n",
        "batch0.yaml": "backbone: test-dinov2\nbatch_size: 0\n",
        "good.yaml": GOOD_SUITE,
    }
    for name, text in texts.items():
        (tmp / name).write_text(text)
    (tmp / "adir").mkdir()
    return {"tmp": str(tmp), "store": str(store)}


def _flat(text: str) -> str:
    """Output with rich's box drawing and line wrapping undone, for substring checks."""
    return " ".join(text.replace("│", " ").split())


def assert_one_line_failure(result, expected: str) -> None:
    """Exit 2, no traceback, and exactly one `probekit: error:` line on stderr (usage errors included)."""
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output and "internal error" not in output, output
    assert result.exit_code == 2, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("probekit: error: "), output
    assert lines[0] in result.stderr
    assert expected in _flat(output), output


@pytest.mark.parametrize("argv, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_invalid_input_is_one_line(files, argv, expected):
    args = [arg.format(**files) for arg in argv]
    outputs = [Path(files["tmp"]) / name for name in ("o.h5", "o.png")]
    try:
        result = runner.invoke(app, args)
        assert_one_line_failure(result, expected)
        assert not any(path.exists() for path in outputs), "a failed command wrote its output"
    finally:
        for path in outputs:
            path.unlink(missing_ok=True)  # one case's leftovers must not fail the next


def test_the_walk_covers_every_command():
    commands = {case[1][0] if case[1][0] != "show" else f"show {case[1][1]}" for case in CASES}
    assert commands == {
        "extract",
        "info",
        "probe",
        "table",
        "benchmark",
        "backbones",
        "datasets",
        "pretrain",
        "show pca",
        "show similarity",
        "show correspondence",
        "show prediction",
    }
    assert len(CASES) >= 60


# -- the one error path: internal errors, --debug, interrupts, OS errors ------------------------------


def _boom(error: BaseException):
    def raise_it(*args, **kwargs):
        raise error

    return raise_it


def test_unexpected_exception_is_one_internal_error_line(monkeypatch):
    monkeypatch.setattr("probekit.backbones.listing.backbone_rows", _boom(RuntimeError("boom\nsecond line")))
    result = runner.invoke(app, ["backbones"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "probekit: internal error: RuntimeError: boom (run with --debug or PROBEKIT_DEBUG=1 "
        "for the traceback; please report it)"
    )
    assert "Traceback" not in result.output


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(monkeypatch, how):
    monkeypatch.setattr("probekit.backbones.listing.backbone_rows", _boom(RuntimeError("boom")))
    args, env = (["--debug", "backbones"], {}) if how == "flag" else (["backbones"], {"PROBEKIT_DEBUG": "1"})
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr and "RuntimeError: boom" in result.stderr
    assert "probekit: internal error: RuntimeError: boom" in result.stderr


def test_debug_is_off_again_for_the_next_command(monkeypatch):
    monkeypatch.setattr("probekit.backbones.listing.backbone_rows", _boom(RuntimeError("boom")))
    runner.invoke(app, ["--debug", "backbones"])
    assert "Traceback" not in runner.invoke(app, ["backbones"]).output


def test_user_error_with_debug_keeps_exit_2_and_adds_the_traceback(tmp_path):
    result = runner.invoke(app, ["--debug", "info", str(tmp_path / "none.h5")])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and result.stderr.strip().splitlines()[-1].startswith("probekit: error: ")


def test_interrupt_is_one_line_exit_130(monkeypatch):
    monkeypatch.setattr("probekit.backbones.listing.backbone_rows", _boom(KeyboardInterrupt()))
    result = runner.invoke(app, ["backbones"])
    assert result.exit_code == 130
    assert result.output.strip() == "probekit: interrupted"


@pytest.mark.parametrize(
    "code, words",
    [
        (errno.ENOSPC, "no space left"),
        (errno.EROFS, "read-only file system"),
        (errno.EACCES, "permission denied"),
    ],
)
def test_os_errors_on_outputs_name_the_path(tmp_path, monkeypatch, code, words):
    target = tmp_path / "table.md"
    monkeypatch.setattr("probekit.report.table.write_tables", _boom(OSError(code, os.strerror(code), str(target))))
    result = runner.invoke(app, ["table", str(tmp_path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"probekit: error: cannot use {target}: {words}"), result.output


def test_unwritable_out_directory_fails_before_work(tmp_path, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == tmp_path else real_access(path, mode))
    result = runner.invoke(app, [*EXTRACT[:-1], str(tmp_path / "x.h5")])
    assert result.exit_code == 2
    assert (
        result.output.strip() == f"probekit: error: --out {tmp_path / 'x.h5'}: {tmp_path} is not writable: "
        "fix its permissions or choose another path"
    )
    assert not (tmp_path / "x.h5").exists()


def test_a_real_process_prints_one_line_on_stderr(tmp_path):
    """Through the installed entry point: stderr holds exactly the error line, stdout nothing."""
    code = "from probekit.cli import main; main()"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = subprocess.run(
        [sys.executable, "-c", code, "table", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines() == [
        f"probekit: error: {tmp_path / 'none'} is not a directory of results: "
        f"run `probekit probe ... --out {tmp_path / 'none'}` first"
    ]
