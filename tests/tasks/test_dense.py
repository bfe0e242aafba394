"""Segmentation and depth probes learn what the features hold: near-perfect on features that encode the
answer, and no better than the trivial predictors on features that hold nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from probekit.tasks import TASKS, run_probe
from tests.store_factory import write_store

N, h, w, P = 48, 4, 4, 4  # 48 images of 16x16 px, 4x4 patches of 4 px


def _scenes(seed: int):
    """Blocky masks (one class per patch, 3 classes) and planar depths (as a floor or wall), 16x16 px each."""
    rng = np.random.default_rng(seed)
    patch_class = rng.integers(0, 3, size=(N, h, w))
    mask = patch_class.repeat(P, 1).repeat(P, 2).astype(np.uint8)
    # log depth linear in the pixel position: bilinear upsampling of patch values reproduces it exactly
    base, slope_y, slope_x = rng.uniform(0.5, 1.5, (3, N, 1, 1)) * np.array([1.0, 0.06, 0.03])[:, None, None, None]
    rows, cols = np.mgrid[0 : h * P, 0 : w * P] + 0.5
    depth = np.exp(base + slope_y * rows + slope_x * cols).astype(np.float32)  # (N, 16, 16), 1.6 .. 11 m
    return patch_class, mask, depth


def _stores(tmp_path, informative: bool):
    paths = {}
    for split, seed in (("train", 0), ("val", 1)):
        patch_class, mask, depth = _scenes(seed)
        if informative:
            log_depth = np.log(depth).reshape(N, h, P, w, P).mean(axis=(2, 4))
            features = np.concatenate([np.eye(3)[patch_class], log_depth[..., None]], axis=-1)
        else:
            features = np.random.default_rng(seed + 10).normal(size=(N, h, w, 4))
        targets = {
            "mask": (mask, {"num_classes": 3, "ignore_index": 255}),
            "depth": (depth, {"min_depth": 0.5, "max_depth": 20.0}),
        }
        paths[split] = write_store(tmp_path / f"{split}-{informative}.h5", features.astype(np.float32), targets)
    return paths


@pytest.mark.parametrize("informative", [True, False])
def test_segmentation_probe(tmp_path, informative):
    stores = _stores(tmp_path, informative)
    path = run_probe(
        "segmentation",
        stores["train"],
        tmp_path / "out",
        val=stores["val"],
        options=TASKS.get("segmentation").parse_options(
            {"lrs": (3e-2,), "epochs": 30, "batch_size": 8, "optimizer": "adamw"}
        ),
        progress=False,
    )
    result = json.loads(path.read_text())
    miou, trivial = result["metrics"]["mIoU"], result["trivial_baseline"]["mIoU"]
    if informative:
        assert miou > 0.95
    else:
        assert miou < 0.45 and trivial < 0.2  # chance for 3 balanced classes is ~1/3 accuracy


@pytest.mark.parametrize(("prediction", "lr", "epochs"), [("bins", 0.1, 60), ("regression", 3e-2, 40)])
def test_depth_probe_reads_depth_from_features(tmp_path, prediction, lr, epochs):
    stores = _stores(tmp_path, informative=True)
    path = run_probe(
        "depth",
        stores["train"],
        tmp_path / "out",
        val=stores["val"],
        options=TASKS.get("depth").parse_options(
            {
                "lrs": (lr,),
                "prediction": prediction,
                "with_cls": False,
                "n_bins": 64,
                "epochs": epochs,
                "warmup_iters": 0,  # the protocol warm-up (a third of the run) is not what this test is about
                "batch_size": 8,
                "optimizer": "adamw",
            }
        ),
        progress=False,
    )
    result = json.loads(path.read_text())
    assert result["metrics"]["d1"] > 0.9 and result["trivial_baseline"]["d1"] < 0.45
    assert result["metrics"]["abs_rel"] < 0.5 * result["trivial_baseline"]["abs_rel"]
    assert result["scale_invariant"]["d1"] >= 0.8
    assert result["probe"]["settings"]["prediction"] == prediction


def test_depth_probe_on_noise_is_no_better_than_the_mean(tmp_path):
    stores = _stores(tmp_path, informative=False)
    path = run_probe(
        "depth",
        stores["train"],
        tmp_path / "out",
        val=stores["val"],
        options=TASKS.get("depth").parse_options(
            {"lrs": (1e-2,), "n_bins": 64, "epochs": 10, "batch_size": 8, "optimizer": "adamw"}
        ),
        progress=False,
    )
    result = json.loads(path.read_text())
    assert result["metrics"]["d1"] < result["trivial_baseline"]["d1"] + 0.15


def test_reduce_zero_label_is_refused_on_masks_reduced_at_extraction(tmp_path):
    from probekit.errors import ProbekitError

    mask = np.zeros((4, 8, 8), np.uint8)
    attrs = {"num_classes": 3, "ignore_index": 255, "zero_label_reduced": True}
    path = write_store(tmp_path / "ade.h5", np.zeros((4, 1, 1, 2), np.float32), {"mask": (mask, attrs)})
    with pytest.raises(ProbekitError, match="drop --reduce-zero-label"):
        run_probe(
            "segmentation",
            path,
            tmp_path / "out",
            val=path,
            options=TASKS.get("segmentation").parse_options({"reduce_zero_label": True, "epochs": 1}),
            progress=False,
        )


def test_class_map_equals_argmax_with_ties_and_nan():
    import torch

    from probekit.tasks.segmentation import class_map

    torch.manual_seed(0)
    scores = torch.randn(3, 5, 7, 6)
    scores[0, 1:3, 0, 0] = 9.0  # a tie: the first class wins, as argmax
    scores[1, 4, 2, 2] = float("nan")  # NaN counts as the maximum, as argmax
    scores = scores.round(decimals=1)  # many more ties
    assert torch.equal(class_map(scores), scores.argmax(1))
    assert torch.equal(class_map(scores[0], dim=0), scores[0].argmax(0))
    assert class_map(scores)[0, 0, 0] == 1 and class_map(scores)[1, 2, 2] == 4
