"""Stores used together must agree: on how the features were made, and on what their targets mean.
A mismatch is refused naming both values; class ids are remapped by name only when asked."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from probekit.cli import app
from tests.store_factory import write_store

RUNNER = CliRunner()
N = 24
NAMES = ["cat", "dog", "fox"]


def _classification(path, names=NAMES, labels=None, features_seed=0):
    rng = np.random.default_rng(features_seed)
    labels = np.arange(N) % 3 if labels is None else labels
    centres = rng.normal(size=(3, 8)) * 4
    features = (centres[labels][:, None, None, :] + rng.normal(size=(N, 1, 1, 8))).astype(np.float32)
    return write_store(
        path, features, {"label": (labels.astype(np.int64), {"num_classes": len(names), "class_names": list(names)})}
    )


def _probe(tmp_path, train, val, *extra):
    return RUNNER.invoke(
        app,
        [
            "probe",
            "--task",
            "classification",
            "--features",
            str(train),
            "--val",
            str(val),
            "--out",
            str(tmp_path / "results"),
            "--epochs",
            "20",
            "--quiet",
            *extra,
        ],
    )


def _one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("probekit: error:"), result.output
    return lines[0]


def test_classes_in_another_order_are_refused_naming_both(tmp_path):
    train = _classification(tmp_path / "train.h5")
    val = _classification(tmp_path / "val.h5", names=["dog", "cat", "fox"])
    line = _one_error_line(_probe(tmp_path, train, val))
    assert "disagree on target 'label' class_names" in line and "'cat', 'dog'" in line and "'dog', 'cat'" in line
    assert "--label-map names" in line


def test_label_map_names_remaps_val_ids_by_class_name(tmp_path):
    train = _classification(tmp_path / "train.h5")
    same = _classification(tmp_path / "same.h5")
    labels = np.arange(N) % 3
    swapped = _classification(tmp_path / "swapped.h5", names=["dog", "cat", "fox"], labels=np.array([1, 0, 2])[labels])
    assert _probe(tmp_path / "a", train, same).exit_code == 0
    remapped = _probe(tmp_path / "b", train, swapped, "--label-map", "names")
    assert remapped.exit_code == 0, remapped.output
    (reference,) = [json.loads(p.read_text()) for p in (tmp_path / "a" / "results").glob("*.json")]
    (mapped,) = [json.loads(p.read_text()) for p in (tmp_path / "b" / "results").glob("*.json")]
    assert mapped["probe"]["label_map"] == "names"
    assert mapped["metrics"]["top1"] == reference["metrics"]["top1"] > 0.9  # the same samples, read the same way


def test_label_map_names_refuses_a_class_train_never_saw(tmp_path):
    train = _classification(tmp_path / "train.h5")
    val = _classification(tmp_path / "val.h5", names=["cat", "dog", "owl"])
    line = _one_error_line(_probe(tmp_path, train, val, "--label-map", "names"))
    assert "lacks" in line and "'owl'" in line


def test_a_different_number_of_classes_is_refused(tmp_path):
    train = _classification(tmp_path / "train.h5")
    val = _classification(tmp_path / "val.h5", names=["cat", "dog", "fox", "owl"])
    assert "num_classes" in _one_error_line(_probe(tmp_path, train, val))


def test_unknown_label_map_is_refused(tmp_path):
    train = _classification(tmp_path / "train.h5")
    assert "--label-map" in _one_error_line(_probe(tmp_path, train, train, "--label-map", "guess"))


def _mask_store(path, **attrs):
    rng = np.random.default_rng(1)
    mask = rng.integers(0, 3, (N, 8, 8)).astype(np.uint8)
    scheme = {"num_classes": 3, "class_names": ["a", "b", "c"], "ignore_index": 255, **attrs}
    return write_store(path, rng.normal(size=(N, 2, 2, 4)).astype(np.float32), {"mask": (mask, scheme)})


@pytest.mark.parametrize(
    "attrs, key",
    [
        ({"ignore_index": 0}, "ignore_index"),
        ({"zero_label_reduced": True}, "zero_label_reduced"),
        ({"class_names": ["a", "c", "b"]}, "class_names"),
    ],
)
def test_segmentation_schemes_must_agree(tmp_path, attrs, key):
    train, val = _mask_store(tmp_path / "train.h5"), _mask_store(tmp_path / "val.h5", **attrs)
    result = RUNNER.invoke(
        app,
        [
            "probe",
            "--task",
            "segmentation",
            "--features",
            str(train),
            "--val",
            str(val),
            "--out",
            str(tmp_path / "r"),
            "--epochs",
            "1",
            "--quiet",
        ],
    )
    assert f"target 'mask' {key}" in _one_error_line(result)


def test_segmentation_class_names_remapped_keep_the_ignore_index(tmp_path):
    from probekit.features import FeatureStore
    from probekit.features.schemes import check_target_schemes

    train, val = _mask_store(tmp_path / "train.h5"), _mask_store(tmp_path / "val.h5", class_names=["c", "a", "b"])
    train_store, val_store = FeatureStore(train), FeatureStore(val)
    stored = val_store.read_target("mask")
    stored[0, 0, 0] = 255
    check_target_schemes(train_store, val_store, "names")
    table = np.array([2, 0, 1])
    read = val_store.read_target("mask")
    raw = FeatureStore(val).read_target("mask")
    expected = np.where(raw == 255, 255, table[np.minimum(raw, 2)])
    assert read.dtype == raw.dtype and np.array_equal(read, expected)


@pytest.mark.parametrize("attrs, key", [({"unit": "mm"}, "unit"), ({"max_depth": 80.0}, "max_depth")])
def test_depth_schemes_must_agree(tmp_path, attrs, key):
    rng = np.random.default_rng(2)
    depth = rng.uniform(1, 5, (N, 8, 8)).astype(np.float32)
    features = rng.normal(size=(N, 2, 2, 4)).astype(np.float32)
    base = {"unit": "m", "min_depth": 0.5, "max_depth": 10.0}
    train = write_store(tmp_path / "train.h5", features, {"depth": (depth, base)})
    val = write_store(tmp_path / "val.h5", features, {"depth": (depth, {**base, **attrs})})
    result = RUNNER.invoke(
        app,
        [
            "probe",
            "--task",
            "depth",
            "--features",
            str(train),
            "--val",
            str(val),
            "--out",
            str(tmp_path / "r"),
            "--epochs",
            "1",
            "--quiet",
        ],
    )
    assert f"target 'depth' {key}" in _one_error_line(result)


@pytest.mark.parametrize("change", ["backbone", "dtype"])
def test_features_made_differently_are_refused_naming_both(tmp_path, change):
    rng = np.random.default_rng(3)
    features = rng.normal(size=(N, 1, 1, 8)).astype(np.float32)
    labels = (np.arange(N) % 3, {"num_classes": 3, "class_names": NAMES})
    train = write_store(tmp_path / "train.h5", features, {"label": labels})
    other = {"backbone": {"backbone": "other"}, "dtype": {"dtype": "float16"}}[change]
    val = write_store(tmp_path / "val.h5", features, {"label": labels}, **other)
    line = _one_error_line(_probe(tmp_path, train, val))
    assert "extracted differently" in line and change in line
