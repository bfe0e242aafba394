"""--head dpt on segmentation and depth: it trains (loss falls, beats the trivial predictor) on a tiny 4-layer
store, reports its parameter count beside the linear head's, and reloads for `probekit show prediction`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from probekit.errors import ProbekitError
from probekit.metrics.depth import DepthMetrics
from probekit.metrics.segmentation import SegmentationMetrics
from probekit.probes.heads import DPTDecoder, parameter_count
from probekit.tasks import TASKS, run_probe
from tests.rescore import stored_predictions
from tests.store_factory import write_layers_store

N, h, w, P, D = 24, 4, 4, 4, 4  # 24 images of 16x16 px, 4x4 patches of 4 px, 4 channels per layer
QUARTERS = [2, 5, 8, 11]  # the ends of a 12-block network's quarters
FAST = {"epochs": 25, "batch_size": 8, "optimizer": "adamw", "warmup_iters": 0, "dpt_features": 8}


def _write(path, layers: list[int], seed: int):
    """A store of `layers`, each holding the patch's class (one-hot) and mean log depth plus layer noise."""
    rng = np.random.default_rng(seed)
    patch_class = rng.integers(0, 3, size=(N, h, w))
    mask = patch_class.repeat(P, 1).repeat(P, 2).astype(np.uint8)
    log_depth = rng.uniform(0.5, 2.0, size=(N, h, w)).astype(np.float32)
    depth = np.exp(log_depth).repeat(P, 1).repeat(P, 2).astype(np.float32)  # (N, 16, 16) 1.6 .. 7.4 m
    signal = np.concatenate([np.eye(3)[patch_class], log_depth[..., None]], axis=-1)  # (N, h, w, 4)
    directions = np.array([[0, 0, -1], [0, -1, 0], [1, 0, 0]], dtype=np.float16)  # one unit normal per class
    normals = directions[mask]  # (N, 16, 16, 3)
    targets = {
        "mask": (mask, {"num_classes": 3, "ignore_index": 255}),
        "depth": (depth, {"min_depth": 0.5, "max_depth": 20.0}),
        "normals": (normals, {"source": "test", "frame": "opencv camera"}),
    }
    features = {}
    for k in layers:
        patch = (signal + 0.1 * rng.normal(size=signal.shape)).astype(np.float32)
        features[k] = {"cls": patch.mean(axis=(1, 2)), "mean": patch.mean(axis=(1, 2)), "patch": patch}
    return write_layers_store(path, features, targets, patch_size=P)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("dpt")
    return _write(root / "train.h5", QUARTERS, 0), _write(root / "val.h5", QUARTERS, 1), root


def _run(task: str, stores, **options):
    train, val, root = stores
    path = run_probe(
        task, train, root / "out", val=val, options=TASKS.get(task).parse_options({**FAST, **options}), progress=False
    )
    return json.loads(path.read_text()), path


def _loss_fell(result) -> bool:
    losses = [record["train_loss"] for record in result["history"]]
    return losses[-1] < 0.5 * losses[0]


def test_dpt_segmentation_trains_reports_its_size_and_reloads(stores):
    result, path = _run("segmentation", stores, head="dpt", lrs=(1e-2,))
    assert _loss_fell(result)
    assert result["metrics"]["mIoU"] > 0.9 > result["trivial_baseline"]["mIoU"]
    settings = result["probe"]["settings"]
    assert settings["layers"] == QUARTERS and settings["head"] == "dpt"  # the quarters' ends by default
    expected = parameter_count(DPTDecoder(D, 8)) + (2 * 8 + 8 * 3 + 3)  # decoder + BN + 1x1 conv to 3 classes
    assert result["probe"]["head"] == {"kind": "dpt", "layers": QUARTERS, "params": expected}
    metric = SegmentationMetrics(3, 255)  # the head rebuilt from the JSON scores what the JSON says
    for prediction, truth in stored_predictions(path, stores[1], "mask"):  # (1, 16, 16) each
        metric.update(prediction, truth.long())
    assert metric.compute()["mIoU"] == pytest.approx(result["metrics"]["mIoU"], abs=1e-6)


@pytest.mark.parametrize(("prediction", "with_cls", "lr"), [("bins", True, 3e-2), ("regression", False, 1e-2)])
def test_dpt_depth_trains_reports_its_size_and_reloads(stores, prediction, with_cls, lr):
    result, path = _run("depth", stores, head="dpt", prediction=prediction, with_cls=with_cls, n_bins=16, lrs=(lr,))
    assert _loss_fell(result)
    assert result["metrics"]["abs_rel"] < 0.5 * result["trivial_baseline"]["abs_rel"]
    readout = 8 * 16 + 16 if prediction == "bins" else 8 + 1  # 1x1 conv to 16 bins | to log depth
    expected = parameter_count(DPTDecoder(D, 8, with_cls)) + readout
    assert result["probe"]["head"] == {"kind": "dpt", "layers": QUARTERS, "params": expected}
    metric = DepthMetrics(min_depth=0.5, max_depth=20.0)
    for prediction, truth in stored_predictions(path, stores[1], "depth"):
        metric.update(prediction, truth)
    assert metric.compute()["rmse"] == pytest.approx(result["metrics"]["rmse"], rel=1e-5)


def test_dpt_normals_train_and_report_their_size(stores):
    result, _ = _run("normals", stores, head="dpt", lrs=(1e-2,))
    assert _loss_fell(result)
    assert result["metrics"]["mean_angle"] < 0.5 * result["trivial_baseline"]["mean_angle"]
    expected = parameter_count(DPTDecoder(D, 8)) + (8 * 3 + 3)  # decoder + 1x1 conv to 3 normal components
    assert result["probe"]["head"] == {"kind": "dpt", "layers": QUARTERS, "params": expected}
    assert result["probe"]["settings"]["head"] == "dpt"


def test_linear_heads_report_their_size_too(stores):
    seg, _ = _run("segmentation", stores, epochs=1)
    assert seg["probe"]["head"] == {"kind": "linear", "layers": [11], "params": 2 * D + D * 3 + 3}
    depth, _ = _run("depth", stores, epochs=1, n_bins=16, layers=(5, 11))
    assert depth["probe"]["head"] == {"kind": "linear", "layers": [5, 11], "params": 2 * 2 * D * 16 + 16}


def test_dpt_without_the_quarters_stored_is_one_line(tmp_path):
    train = _write(tmp_path / "last.h5", [11], 0)
    with pytest.raises(ProbekitError, match="--layers quarters"):
        run_probe(
            "segmentation", train, tmp_path / "out", options=TASKS.get("segmentation").parse_options({"head": "dpt"})
        )


def test_dpt_takes_exactly_four_layers():
    with pytest.raises(ProbekitError, match="reassembles 4 layers, not 3"):
        TASKS.get("depth").parse_options({"head": "dpt", "layers": (5, 8, 11)})
    with pytest.raises(ProbekitError, match="unknown head 'conv'"):
        TASKS.get("depth").parse_options({"head": "conv"})


def test_results_written_before_the_head_option_still_rebuild():
    """Older JSONs name the depth readout `head` (bins | regression) and segmentation's head 'bn+conv1x1'."""
    from probekit.probes.heads import DepthBinsHead, DepthRegressionHead, SegmentationHead

    old = {"layers": [11], "with_cls": True, "min_depth": 0.5, "max_depth": 20.0, "n_bins": 16, "bin_spacing": "linear"}
    bins = TASKS.get("depth").build_head({**old, "head": "bins"}, D)
    assert isinstance(bins, DepthBinsHead) and bins.conv.in_channels == 2 * D and bins.upsample == 4
    assert isinstance(TASKS.get("depth").build_head({**old, "head": "regression"}, D), DepthRegressionHead)
    segmentation = TASKS.get("segmentation").build_head({"layers": [11], "head": "bn+conv1x1", "num_classes": 3}, D)
    assert isinstance(segmentation, SegmentationHead) and segmentation.conv.in_channels == D
