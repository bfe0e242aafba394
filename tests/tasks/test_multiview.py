"""The multiview task: recall at pixel thresholds against a numpy reference, rotation binning, a known case
(perfect features on identical views), the identity baseline, and stores without rotation angles."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from probekit.cli import app
from probekit.errors import MetricError, ProbekitError
from probekit.features.extract import ExtractConfig, extract
from probekit.metrics.multiview import MultiviewRecall, bin_key, point_errors, recall_key
from probekit.report.table import write_tables
from probekit.tasks import TASKS, run_probe
from tests.correspondence.pair_store import write_pair_store


def _reference(preds, targets, angles, pixels, edges):
    """Probe3D's recall, written out with loops: pooled over matches; per bin the mean of per-pair recalls."""
    pooled = {p: [] for p in pixels}
    per_pair = []
    for pred, target in zip(preds, targets, strict=True):
        recalls = {}
        for p in pixels:
            hits = []
            for (px, py), (tx, ty) in zip(pred, target, strict=True):
                if np.isnan(tx):
                    continue
                error = np.inf if np.isnan(px) else np.hypot(px - tx, py - ty)
                hits.append(error < p)
            pooled[p] += hits
            recalls[p] = np.mean(hits) if hits else None
        per_pair.append(recalls)
    overall = {p: np.mean(pooled[p]) for p in pixels}
    binned = {}
    for low, high in itertools.pairwise(edges):
        for p in pixels:
            values = [r[p] for r, a in zip(per_pair, angles, strict=True) if low <= a < high and r[p] is not None]
            binned[(p, low, high)] = np.mean(values) if values else None
    return overall, binned


def test_recall_matches_a_numpy_reference():
    rng = np.random.default_rng(0)
    pixels, edges = (5.0, 10.0, 20.0), (0.0, 30.0, 60.0, 90.0, 120.0)
    preds, targets, angles = [], [], []
    metric = MultiviewRecall(pixels, edges)
    for _ in range(40):
        target = rng.uniform(0, 200, (12, 2))
        pred = target + rng.normal(scale=12, size=(12, 2))
        target[rng.uniform(size=12) < 0.2] = np.nan  # unannotated rows
        pred[rng.uniform(size=12) < 0.1] = np.nan  # never predicted: wrong
        angle = float(rng.uniform(0, 130))  # some beyond the last bin
        metric.update(pred, target, angle)
        preds.append(pred), targets.append(target), angles.append(angle)
    result = metric.compute()
    overall, binned = _reference(preds, targets, angles, pixels, edges)
    for p in pixels:
        assert result[recall_key(p)] == pytest.approx(overall[p], abs=1e-12)
    for (p, low, high), value in binned.items():
        assert result[bin_key(p, low, high)] == pytest.approx(value, abs=1e-12)
    assert result["pairs"] == 40 and result["pairs_outside_bins"] == sum(a >= 120 for a in angles)
    assert sum(b["pairs"] for b in result["bins"].values()) == 40 - result["pairs_outside_bins"]


def test_bins_are_closed_below_and_open_above():
    metric = MultiviewRecall((10.0,), (0.0, 30.0, 60.0))
    right, wrong = np.array([[0.0, 0.0]]), np.array([[50.0, 0.0]])
    truth = np.zeros((1, 2))
    metric.update(right, truth, 0.0)  # bin 0-30
    metric.update(wrong, truth, 30.0)  # bin 30-60: 30 is its lower edge
    metric.update(right, truth, 60.0)  # outside: 60 is the open upper edge
    result = metric.compute()
    assert result["recall@10px_rot0-30"] == 1.0 and result["recall@10px_rot30-60"] == 0.0
    assert result["bins"]["0-30"]["pairs"] == 1 and result["pairs_outside_bins"] == 1
    assert result[recall_key(10.0)] == pytest.approx(2 / 3)  # pooled over every pair, binned or not
    empty = MultiviewRecall((10.0,), (0.0, 30.0, 60.0))
    empty.update(right, truth, 10.0)
    assert empty.compute()["recall@10px_rot30-60"] is None  # an empty bin has no recall, not 0


def test_threshold_is_strict_and_nan_targets_are_not_matches():
    errors = point_errors(
        np.array([[10.0, 0.0], [np.nan, 0.0], [0.0, 0.0]]), np.array([[0.0, 0.0]] * 2 + [[np.nan] * 2])
    )
    assert errors[0] == 10.0 and errors[1] == np.inf and np.isnan(errors[2])
    metric = MultiviewRecall((10.0,), (0.0, 180.0))
    metric.update(np.array([[10.0, 0.0]]), np.zeros((1, 2)), 5.0)
    assert metric.compute()[recall_key(10.0)] == 0.0  # error == threshold is a miss (Probe3D: err < th)
    with pytest.raises(MetricError, match="bins"):
        MultiviewRecall((10.0,), (30.0, 0.0))


def test_perfect_features_on_identical_views_recall_everything(tmp_path):
    store = write_pair_store(tmp_path / "same.h5", 8, "oracle", rotation_deg=np.zeros(8))
    path = run_probe("multiview", store, tmp_path / "out", val=store, test=store, progress=False)
    result = json.loads(path.read_text())
    m = result["metrics"]
    assert m["recall@5px"] == m["recall@10px_rot0-30"] == 1.0 and m["bins"]["0-30"]["pairs"] == 8
    assert m["bins"]["30-60"] == {
        "pairs": 0,
        "matches": 0,
        "recall@5px": None,
        "recall@10px": None,
        "recall@20px": None,
    }
    assert result["trivial_baseline"]["predictor"].startswith("identity map")
    assert result["trivial_baseline"]["recall@10px"] < 1.0 and result["mode"] == "zero-shot"


def test_random_features_fall_behind_and_bins_follow_the_angles(tmp_path):
    angles = np.array([5, 40, 70, 100, 10, 45, 75, 110], dtype=np.float32)
    store = write_pair_store(tmp_path / "random.h5", 8, "random", rotation_deg=angles)
    path = run_probe("multiview", store, tmp_path / "out", val=store, test=store, progress=False)
    m = json.loads(path.read_text())["metrics"]
    assert m["recall@10px"] < 0.5
    assert [m["bins"][name]["pairs"] for name in ("0-30", "30-60", "60-90", "90-120")] == [2, 2, 2, 2]


def test_store_without_angles_is_refused_in_one_line_but_correspondence_reads_it(tmp_path):
    store = write_pair_store(tmp_path / "old.h5", 4, "oracle")
    with pytest.raises(ProbekitError, match=r"no per-pair rotation angles.*synthetic-multiview"):
        run_probe("multiview", store, tmp_path / "out", val=store, test=store, progress=False)
    run_probe("correspondence", store, tmp_path / "out", val=store, test=store, progress=False)


@pytest.mark.parametrize(
    ("values", "message"),
    [({"pixels": "5,20"}, "must include 10"), ({"bins": "0,30,20"}, "--bins"), ({"window": 2}, "--window")],
)
def test_bad_options_are_one_line(values, message):
    with pytest.raises(ProbekitError, match=message):
        TASKS.get("multiview").parse_options(values)


def test_synthetic_multiview_store_end_to_end(tmp_path):
    config = ExtractConfig(
        backbone="pixels-p8", dataset="synthetic-multiview", split="val", image_size=(32, 32), limit=8, workers=0
    )
    store = extract(config, tmp_path / "mv.h5", progress=False)
    path = run_probe("multiview", store, tmp_path / "out", val=store, test=store, progress=False)
    m = json.loads(path.read_text())["metrics"]
    assert m["pairs"] == 4 and m["matches"] > 0
    assert [m["bins"][name]["pairs"] for name in ("0-30", "30-60", "60-90", "90-120")] == [1, 1, 1, 1]


def test_table_shows_overall_and_small_rotation_recall(tmp_path):
    store = write_pair_store(tmp_path / "same.h5", 4, "oracle", rotation_deg=np.array([5, 10, 40, 100]))
    run_probe("multiview", store, tmp_path / "out", val=store, test=store, progress=False)
    text, _ = write_tables(tmp_path / "out")
    assert "mv recall@10px" in text and "mv recall@10px 0-30deg" in text and "100.0" in text


def test_cli_evaluates_the_features_store_whole_with_options_from_opt(tmp_path):
    store = write_pair_store(tmp_path / "same.h5", 12, "oracle", rotation_deg=np.linspace(0, 170, 12))
    args = ["probe", "--task", "multiview", "--features", str(store), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*args, "--opt", "bins=0,15,30,60,180", "--quiet"])
    assert result.exit_code == 0, result.output
    saved = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert saved["metrics"]["pairs"] == 12 and list(saved["metrics"]["bins"]) == ["0-15", "15-30", "30-60", "60-180"]
    bad = CliRunner().invoke(app, [*args, "--opt", "bins=0,30,10"])
    assert bad.exit_code == 2 and "--bins" in bad.output and "Traceback" not in bad.output
