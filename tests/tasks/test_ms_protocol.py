"""DINOv2's +ms: view stores written by `extract --scales --flip`, averaged by `--protocol ms`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from probekit.data import open_dataset
from probekit.errors import ProbekitError
from probekit.features.extract import ExtractConfig, extract, extract_views
from probekit.features.store import FeatureStore
from probekit.features.tta import FlippedView, scaled_size, tta_path
from probekit.metrics.segmentation import SegmentationMetrics
from probekit.probes.resize import resize_bilinear
from probekit.tasks import TASKS, run_probe

SCALES = (0.5, 1.0, 1.5)
FAST = {"epochs": 2, "lrs": (0.01,), "weight_decays": (0.0,), "batch_size": 4}


def _config(split: str, limit: int) -> ExtractConfig:
    return ExtractConfig(
        backbone="test-dinov2",
        split=split,
        random_init=True,
        image_size=(28, 42),
        limit=limit,
        workers=0,
        device="cpu",
        dtype="float32",
    )


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ms")
    train = extract(_config("train", 12), tmp / "train.h5", progress=False)
    views = extract_views(_config("val", 6), tmp / "val.h5", SCALES, flip=True, progress=False)
    return tmp, train, views


def test_view_stores_are_named_scaled_and_flipped(stores):
    tmp, _, views = stores
    assert [p.name for p in views] == [
        "val.h5",
        "val.s0.5.h5",
        "val.s0.5-flip.h5",
        "val.s1-flip.h5",
        "val.s1.5.h5",
        "val.s1.5-flip.h5",
    ]
    view = FeatureStore(tmp / "val.s1.5-flip.h5")
    assert view.attrs["image_size"] == [42, 56] == list(scaled_size((28, 42), 1.5, 14))  # 63 -> 4.5 patches -> 4
    assert view.attrs["tta_scale"] == 1.5 and view.attrs["tta_flip"] is True and view.attrs["tta_base"] == "val.h5"
    assert view.targets == [] and view.ids == FeatureStore(tmp / "val.h5").ids
    _, maps = view.read_frames()
    assert maps[0][0] < 0 and maps[0][2] == pytest.approx(56)  # x -> 56 - x: mirrored


def test_flipped_view_mirrors_the_image_and_its_pixel_map():
    dataset = open_dataset("synthetic", "val", None, (28, 42), 2)
    plain, flipped = dataset[0], FlippedView(dataset, (28, 42), True, 1.0, "val.h5")[0]
    np.testing.assert_array_equal(flipped["image"], plain["image"][:, ::-1])
    sx, _, ox, _ = flipped["original"]["pixel_map"]
    x = np.array([0.5, 10.25, 41.5])  # original x -> stored x of the mirrored image
    np.testing.assert_allclose(x * sx + ox, 42 - x)


def test_missing_view_store_is_one_line_naming_it(stores, tmp_path):
    tmp, train, _ = stores
    options = TASKS.get("segmentation").parse_options({**FAST, "protocol": "ms"})  # DINOv2's 6 scales: 0.75 missing
    with pytest.raises(ProbekitError, match=r"val\.s0\.75\.h5.*--scales 0\.5,0\.75,1,1\.25,1\.5,1\.75 --flip"):
        run_probe("segmentation", train, tmp_path, val=tmp / "val.h5", options=options, device="cpu", progress=False)


def _reference_ms_miou(result, path, tmp) -> float:
    """Softmax of every view's logits, resized to the stored mask, un-flipped, averaged, arg-max: by hand."""
    settings = result["probe"]["settings"]
    base = FeatureStore(tmp / "val.h5")
    head = TASKS.get("segmentation").build_head(settings, base.dim)
    head.load_state_dict(load_file(str(path.with_suffix(".safetensors"))))
    head.eval()
    masks = torch.from_numpy(base.read_target("mask").astype(np.int64))  # (N, H, W)
    total = torch.zeros(len(base), settings["num_classes"], *masks.shape[1:])
    for scale in SCALES:
        for flip in (False, True):
            store = FeatureStore(tta_path(tmp / "val.h5", scale, flip))
            with torch.no_grad():
                logits = head(torch.from_numpy(store.read("patch")).permute(0, 3, 1, 2))  # (N, K, h, w)
            probs = resize_bilinear(logits, masks.shape[1:]).softmax(1)
            total += probs.flip(-1) if flip else probs
    metric = SegmentationMetrics(settings["num_classes"], 255)
    metric.update(total.argmax(1), masks)
    return metric.compute()["mIoU"]


def test_ms_averages_softmax_over_views_and_records_them(stores):
    tmp, train, _ = stores
    options = TASKS.get("segmentation").parse_options(
        {**FAST, "protocol": "ms", "ms_scales": SCALES, "score_at": "stored"}
    )
    path = run_probe(
        "segmentation", train, tmp / "runs", val=tmp / "val.h5", options=options, device="cpu", progress=False
    )
    result = json.loads(path.read_text())
    assert result["scoring"]["protocol"] == "ms" and len(result["scoring"]["views"]) == 6
    assert result["metrics"]["mIoU"] == pytest.approx(_reference_ms_miou(result, path, tmp), abs=1e-9)
    options = TASKS.get("segmentation").parse_options({**FAST, "protocol": "ms", "ms_scales": SCALES})
    original = run_probe(
        "segmentation", train, tmp / "runs", val=tmp / "val.h5", options=options, device="cpu", progress=False
    )
    # the synthetic originals are the renders: the original frame is the stored one (views differ by resampling only)
    assert json.loads(original.read_text())["metrics"]["mIoU"] == pytest.approx(result["metrics"]["mIoU"], abs=0.01)


def test_depth_ms_runs_and_says_so(stores):
    tmp, train, _ = stores
    options = TASKS.get("depth").parse_options({**FAST, "protocol": "ms", "ms_scales": SCALES})
    path = run_probe("depth", train, tmp / "runs", val=tmp / "val.h5", options=options, device="cpu", progress=False)
    result = json.loads(path.read_text())
    assert result["scoring"]["protocol"] == "ms" and result["probe"]["settings"]["protocol"] == "ms"
    assert np.isfinite(result["metrics"]["rmse"])
