"""Every registered dataset through the CLI: official-layout fixture -> `probekit extract` -> `probekit probe`.

The stored targets are checked against the values written into the fixture (tests/data/fixtures.py), so
an adapter that reads its files right but does not survive extraction (a protocol attribute another
module misreads, a target the store drops) fails here. A registered adapter without a fixture fails too.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from probekit.cli import app
from probekit.data.registry import dataset_entries
from probekit.features import FeatureStore
from tests.data.fixtures import FIXTURES, Expected, Fixture

runner = CliRunner()
PROBE_FAST = ["--epochs", "1", "--lrs", "0.01", "--weight-decays", "0", "--device", "cpu", "--quiet"]
PROBE_ZERO_SHOT = ["--device", "cpu", "--quiet"]  # tasks that train nothing have no schedule options
ZERO_SHOT_TASKS = ("multiview",)


def test_every_registered_dataset_has_a_fixture():
    registered = {name for name, _ in dataset_entries()}
    assert registered - set(FIXTURES) == set(), "registered adapters without an end-to-end fixture"
    assert set(FIXTURES) - registered == set(), "fixtures for names no longer registered"


def _invoke(args: list[str]) -> str:
    """Run the CLI; fail with its output unless it exits 0 without a traceback."""
    result = runner.invoke(app, args)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 0 and "Traceback" not in output, (
        f"probekit {' '.join(args)}:\n{output}\n{result.exception!r}"
    )
    return output


def _extract(name: str, fixture: Fixture, tmp_path) -> tuple[Expected, object]:
    tree = tmp_path / "tree"
    tree.mkdir()
    expected = fixture.write(tree)
    height, width = fixture.image_size
    store = tmp_path / f"{name}.h5"
    args = [
        "extract",
        "--dataset",
        name,
        "--split",
        fixture.split,
        "--backbone",
        "test-dinov2",
        "--random-init",
        "--workers",
        "0",
        "--batch-size",
        "4",
        "--image-size",
        f"{height}x{width}",
        "--out",
        str(store),
        "--device",
        "cpu",
        "--dtype",
        "float32",
    ]
    if fixture.needs_root:
        args += ["--root", str(tree / fixture.root)]
    if fixture.limit:
        args += ["--limit", str(fixture.limit)]
    _invoke(args)
    return expected, store


def _check_targets(store: FeatureStore, expected: Expected) -> None:
    assert sorted(store.ids) == sorted(expected.targets), "stored sample ids differ from the fixture's"
    for sample, targets in expected.targets.items():
        row = store.ids.index(sample)
        for target, value in targets.items():
            stored = store.read_target(target)[row]
            value = np.asarray(value)
            assert stored.shape == value.shape, f"{sample} {target}: stored {stored.shape}, fixture {value.shape}"
            tolerance = expected.atol.get(target)
            if tolerance is None:
                np.testing.assert_array_equal(stored, value, err_msg=f"{sample} {target}")
            else:
                np.testing.assert_allclose(stored, value, rtol=0, atol=tolerance, err_msg=f"{sample} {target}")


def _check_pairs(store: FeatureStore, pairs: dict) -> None:
    table = store.read_pairs()
    for field, value in pairs.items():
        stored = getattr(table, field)
        if field == "ids":
            assert list(stored) == list(value)
        elif field.endswith("_kps"):  # (P, K, 2) NaN-padded: each pair's points, then padding
            for row, points in enumerate(value):
                points = np.asarray(points, dtype=np.float32)
                valid = ~np.isnan(points).any(axis=-1)
                np.testing.assert_allclose(stored[row][: len(points)][valid], points[valid], rtol=0, atol=1e-5)
                assert np.isnan(stored[row][len(points) :]).all()
        else:
            np.testing.assert_allclose(np.asarray(stored, dtype=np.float64), np.asarray(value, dtype=np.float64))


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_extract_then_probe(name, tmp_path):
    fixture = FIXTURES[name]
    expected, store_path = _extract(name, fixture, tmp_path)
    with FeatureStore(store_path) as store:
        _check_targets(store, expected)
        if expected.pairs is not None:
            _check_pairs(store, expected.pairs)
    out = tmp_path / "results"
    fast = PROBE_ZERO_SHOT if fixture.task in ZERO_SHOT_TASKS else PROBE_FAST
    args = ["probe", "--task", fixture.task, "--features", str(store_path), "--out", str(out), *fast]
    if fixture.task in ("depth", "segmentation", "classification"):
        args += ["--val", str(store_path)]  # 2-4 samples: validate on the training store itself
    if fixture.task == "classification":
        args += ["--pooling", "cls", "--n-blocks", "1"]
    _invoke(args)
    results = list(out.glob("*.json"))
    assert len(results) == 1
    metrics = json.loads(results[0].read_text())["metrics"]
    assert metrics and all(np.isfinite(v) for v in metrics.values() if isinstance(v, (int, float)))
