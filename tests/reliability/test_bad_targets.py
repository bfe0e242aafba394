"""Depth targets without valid pixels and segmentation ids outside the scheme: refused in one line, or handled as
asked."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from probekit.cli import app
from probekit.data.label_maps import LabelTable
from probekit.errors import DatasetError
from probekit.metrics.depth import DepthMetrics
from probekit.probes.losses import gradient_loss, silog_loss
from tests.store_factory import write_store

RUNNER = CliRunner()
N = 8


def _depth_store(path, fill=None, rows=8):
    rng = np.random.default_rng(len(path.name))
    depth = rng.uniform(1, 5, (N, 8, 8)).astype(np.float32)
    if fill is not None:
        depth[:, :rows] = fill
    features = rng.normal(size=(N, 2, 2, 4)).astype(np.float32)
    return write_store(path, features, {"depth": (depth, {"min_depth": 0.5, "max_depth": 10.0})})


def _seg_store(path, bad=None):
    rng = np.random.default_rng(len(path.name))
    mask = rng.integers(0, 3, (N, 8, 8)).astype(np.uint8)
    if bad is not None:
        mask[0, 0, :3] = bad
    features = rng.normal(size=(N, 2, 2, 4)).astype(np.float32)
    return write_store(path, features, {"mask": (mask, {"num_classes": 3, "ignore_index": 255})})


def _probe(task, train, val, out, *extra):
    return RUNNER.invoke(
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
            str(out),
            "--epochs",
            "1",
            "--lrs",
            "0.01",
            "--device",
            "cpu",
            "-q",
            *extra,
        ],
    )


@pytest.mark.parametrize("fill", [np.nan, np.inf, 0.0, -1.0, 50.0])
@pytest.mark.parametrize("split", ["train", "val"])
def test_depth_split_without_valid_pixels_is_refused(tmp_path, fill, split):
    train = _depth_store(tmp_path / "train.h5", fill if split == "train" else None)
    val = _depth_store(tmp_path / "val.h5", fill if split == "val" else None)
    result = _probe("depth", train, val, tmp_path / "out")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{split}.h5: the {split} split has no valid depth pixels" in result.output
    assert not list((tmp_path / "out").glob("*.json"))


def test_depth_test_split_without_valid_pixels_is_refused(tmp_path):
    train, val = _depth_store(tmp_path / "train.h5"), _depth_store(tmp_path / "val.h5")
    test = _depth_store(tmp_path / "test.h5", np.nan)
    result = _probe("depth", train, val, tmp_path / "out", "--test", str(test))
    assert result.exit_code == 2 and "test.h5: the test split has no valid depth pixels" in result.output


def test_valid_fraction_in_results_and_no_nan(tmp_path):
    train = _depth_store(tmp_path / "train.h5", np.nan, rows=4)  # half of every map NaN
    val = _depth_store(tmp_path / "val.h5", np.inf, rows=2)  # a quarter inf
    result = _probe("depth", train, val, tmp_path / "out")
    assert result.exit_code == 0, result.output
    data = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert data["valid_fraction"] == {"train": 0.5, "val": 0.75}
    assert np.isfinite(data["metrics"]["rmse"]) and data["metrics"]["num_images"] == N


def test_depth_losses_and_metrics_treat_nan_and_inf_as_invalid():
    target = torch.full((1, 6, 6), 2.0)
    target[0, 0, 0], target[0, 1, 1] = float("nan"), float("inf")
    pred = torch.full((1, 6, 6), 1.5) + torch.linspace(0, 0.1, 36).view(1, 6, 6)
    assert torch.isfinite(silog_loss(pred, target)) and torch.isfinite(gradient_loss(pred, target))
    for mode, alignment in (("positive", None), ("range", "lstsq"), ("range", "median")):
        metric = DepthMetrics(0.5, 10.0, valid_mode=mode, alignment=alignment)
        metric.update(pred, target)
        assert np.isfinite(metric.compute()["rmse"]), (mode, alignment)


@pytest.mark.parametrize(("split", "bad"), [("train", 7), ("val", 200)])
def test_segmentation_ids_outside_the_scheme_are_refused(tmp_path, split, bad):
    train = _seg_store(tmp_path / "train.h5", bad if split == "train" else None)
    val = _seg_store(tmp_path / "val.h5", bad if split == "val" else None)
    result = _probe("segmentation", train, val, tmp_path / "out")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{split}.h5: masks hold ids [{bad}] outside the 3 classes" in result.output
    assert "--unknown-ids ignore" in result.output


def test_segmentation_unknown_ids_ignored_when_asked(tmp_path):
    train, val = _seg_store(tmp_path / "train.h5", 7), _seg_store(tmp_path / "val.h5", 9)
    result = _probe("segmentation", train, val, tmp_path / "out", "--unknown-ids", "ignore")
    assert result.exit_code == 0, result.output
    data = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert data["probe"]["settings"]["unknown_ids"] == "ignore"
    bad = _probe("segmentation", train, val, tmp_path / "out2", "--unknown-ids", "drop")
    assert bad.exit_code == 2 and "unknown unknown_ids 'drop': use raise or ignore" in bad.output


def test_label_table_refuses_unexpected_raw_values(tmp_path):
    table = LabelTable.identity(3, "trainIds")
    with pytest.raises(DatasetError, match=r"x.png holds label values \[9\], expected 0..2 and 255"):
        table.apply(np.array([[0, 1, 9, 255]], dtype=np.uint8), tmp_path / "x.png", "voc")
