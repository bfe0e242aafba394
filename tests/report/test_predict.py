"""A saved head predicts what the task evaluated: metrics recomputed from `predict_store` equal the results JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from probekit.errors import ProbekitError, StoreError
from probekit.metrics.depth import DepthMetrics
from probekit.metrics.segmentation import SegmentationMetrics
from probekit.report.predict import load_head, predict, predict_store
from probekit.tasks import TASKS, run_probe
from tests.rescore import stored_predictions
from tests.store_factory import write_store

N, h, w, P = 16, 3, 3, 4  # 16 images of 12 x 12 px


def _store(path, seed: int):
    """Features that encode the class (one-hot) and the log depth of each patch, plus noise channels."""
    rng = np.random.default_rng(seed)
    patch_class = rng.integers(0, 3, size=(N, h, w))
    mask = patch_class.repeat(P, 1).repeat(P, 2).astype(np.uint8)
    depth = np.exp(rng.uniform(0.2, 2.0, size=(N, h, w))).repeat(P, 1).repeat(P, 2).astype(np.float32)
    features = np.concatenate(
        [np.eye(3)[patch_class], np.log(depth[:, ::P, ::P])[..., None], rng.normal(size=(N, h, w, 2))], axis=-1
    )
    targets = {
        "mask": (mask, {"num_classes": 3, "ignore_index": 255}),
        "depth": (depth, {"min_depth": 0.5, "max_depth": 20.0}),
    }
    return write_store(path, features.astype(np.float32), targets)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    return _store(root / "train.h5", 0), _store(root / "val.h5", 1), root


def _run(task: str, stores, **options):
    train, val, root = stores
    return run_probe(
        task,
        train,
        root / "out",
        val=val,
        options=TASKS.get(task).parse_options(
            {"lrs": (3e-2,), **options, "epochs": 3, "batch_size": 8, "optimizer": "adamw"}
        ),
        progress=False,
    )


def test_segmentation_predictions_reproduce_the_reported_miou(stores):

    path = _run("segmentation", stores)
    metric = SegmentationMetrics(3, 255)
    for prediction, truth in stored_predictions(path, stores[1], "mask"):
        assert prediction.shape == (1, h * P, w * P)  # (12, 12) labels
        metric.update(prediction, truth.long())
    assert metric.compute()["mIoU"] == pytest.approx(json.loads(path.read_text())["metrics"]["mIoU"], abs=1e-6)


@pytest.mark.parametrize("head_name", ["bins", "regression"])
def test_depth_predictions_reproduce_the_reported_rmse(stores, head_name):

    path = _run("depth", stores, prediction=head_name, n_bins=16)
    result = json.loads(path.read_text())
    assert load_head(path).needs_cls  # default: CLS on every patch
    metric = DepthMetrics(min_depth=0.5, max_depth=20.0)
    for prediction, truth in stored_predictions(path, stores[1], "depth"):
        metric.update(prediction, truth)
    assert metric.compute()["rmse"] == pytest.approx(result["metrics"]["rmse"], rel=1e-5)


def test_missing_layers_weights_and_foreign_stores_fail_in_one_line(stores, tmp_path):
    path = _run("segmentation", stores)
    head = load_head(path)
    with pytest.raises(ProbekitError, match="lack layer"):
        predict(head, {3: np.zeros((h, w, 6))}, None, (12, 12))
    other = write_store(tmp_path / "other.h5", np.zeros((2, h, w, 6), np.float32), {}, backbone="another")
    from probekit.features.store import FeatureStore

    with pytest.raises(StoreError, match="other features"):
        predict_store(head, FeatureStore(other), 0)
    with pytest.raises(ProbekitError, match="does not exist"):
        load_head(tmp_path / "none.json")
    copy = tmp_path / path.name
    copy.write_text(path.read_text())
    with pytest.raises(ProbekitError, match=r"weights .* are missing"):
        load_head(copy)
