"""Scoring at the original label resolution, checked against mmsegmentation and a numpy depth reference.

A VOC tree with non-square images of several sizes is extracted (fit `pad`, so every original pixel is
seen, as mmsegmentation sees it), probed, and the chosen head's predictions are rebuilt the way
mmsegmentation builds them (logits resized to the input size, padding cropped off, resized to the
original shape) and scored by its own `IoUMetric`: probekit's mIoU must be the same number.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file

from probekit.data import label_maps
from probekit.features.extract import ExtractConfig, extract
from probekit.features.originals import decode_float_planes, encode_float_planes
from probekit.features.store import FeatureStore
from probekit.probes.resize import resample_to_original
from probekit.tasks import TASKS, run_probe

SIZES = [(37, 53), (61, 45), (50, 50), (44, 70), (29, 64), (58, 41)]  # (H0, W0) of the samples, all different
TRAIN, VAL = ["2007_000001", "2007_000002", "2007_000003"], ["2007_000004", "2007_000005", "2007_000006"]
FAST = {"epochs": 2, "lrs": (0.01,), "weight_decays": (0.0,), "batch_size": 2}


def _voc_tree(root):
    """VOCdevkit/VOC2012 with images of SIZES whose labels follow the image colour (learnable)."""
    base = root / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for sample, (h, w) in zip(TRAIN + VAL, SIZES, strict=True):
        labels = np.zeros((h, w), np.uint8)
        labels[: h // 2, : w // 3] = 1
        labels[h // 2 :, w // 2 :] = 15
        labels[h // 3 : h // 3 + 4] = 255  # an ignored band
        colours = np.array([[20, 20, 20], [220, 30, 30], *[[0, 0, 0]] * 13, [30, 30, 220]], np.uint8)
        image = colours[np.where(labels == 255, 0, labels)] + rng.integers(0, 30, (h, w, 3), dtype=np.uint8)
        Image.fromarray(image).save(base / "JPEGImages" / f"{sample}.jpg", quality=95)
        Image.fromarray(labels, mode="P").save(base / "SegmentationClass" / f"{sample}.png")
    (base / "ImageSets/Segmentation/train.txt").write_text("\n".join(TRAIN) + "\n")
    (base / "ImageSets/Segmentation/val.txt").write_text("\n".join(VAL) + "\n")
    return root / "VOCdevkit"


def _extract(tmp_path, root, split, fit="pad", image_size=(56, 56)):
    config = ExtractConfig(
        backbone="test-dinov2",
        dataset="voc",
        split=split,
        root=str(root),
        random_init=True,
        image_size=image_size,
        workers=0,
        batch_size=4,
        device="cpu",
        dtype="float32",
    )
    label_maps.FIT_MODE, before = fit, label_maps.FIT_MODE
    try:
        return extract(config, tmp_path / f"{split}-{fit}-{image_size[1]}.h5", progress=False)
    finally:
        label_maps.FIT_MODE = before


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("voc")
    root = _voc_tree(tmp)
    return tmp, root, _extract(tmp, root, "train"), _extract(tmp, root, "val")


def test_store_keeps_the_original_labels_and_pixel_maps(voc):
    _, root, _, val = voc
    store = FeatureStore(val)
    assert store.originals == ["mask"]
    shapes, maps = store.read_frames()
    masks = store.read_originals("mask")
    for i, sample in enumerate(store.ids):
        label = np.array(Image.open(root / "VOC2012" / "SegmentationClass" / f"{sample}.png"))
        assert tuple(shapes[i]) == label.shape
        np.testing.assert_array_equal(masks[i], label)
        h0, w0 = label.shape
        scale = min(56 / h0, 56 / w0)  # pad fit: the longer side to 56
        assert maps[i][0] == pytest.approx(round(w0 * scale) / w0) and maps[i][1] == pytest.approx(
            round(h0 * scale) / h0
        )


def test_depth_codec_is_lossless_and_smaller():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:480, 0:640]
    depth = (2 + 0.004 * x + 0.002 * y + rng.normal(0, 0.001, (480, 640))).astype(np.float32)
    depth[:40] = 0  # invalid rows
    data = encode_float_planes(depth)
    np.testing.assert_array_equal(decode_float_planes(data, depth.shape), depth)
    assert data.nbytes < depth.nbytes
    assert decode_float_planes(data[:-3], depth.shape) is None  # truncated: not silently read


def _mmseg_prediction(logits, pixel_map, image_hw, original_hw):
    """mmsegmentation's post-processing of a padded input: resize to the input, crop the padding, resize."""
    sx, sy, ox, oy = (float(v) for v in pixel_map)
    h0, w0 = original_hw
    h, w = round(sy * h0), round(sx * w0)
    full = F.interpolate(logits, image_hw, mode="bilinear", align_corners=False)
    content = full[..., int(oy) : int(oy) + h, int(ox) : int(ox) + w]
    return F.interpolate(content, original_hw, mode="bilinear", align_corners=False).argmax(1)  # (1, H0, W0)


def test_resampling_equals_mmsegmentations_postprocessing():
    torch.manual_seed(0)
    logits = torch.randn(1, 5, 4, 4)
    for original_hw, pixel_map in [((37, 53), (56 / 53, 40 / 37, 0.0, 8.0)), ((61, 45), (41 / 45, 56 / 61, 7.0, 0.0))]:
        ours, inside = resample_to_original(logits[0], torch.tensor(pixel_map), (56, 56), original_hw)
        assert bool(inside.all())
        expected = F.interpolate(logits, (56, 56), mode="bilinear", align_corners=False)
        sx, sy, ox, oy = pixel_map
        h, w = round(sy * original_hw[0]), round(sx * original_hw[1])
        expected = F.interpolate(
            expected[..., int(oy) : int(oy) + h, int(ox) : int(ox) + w],
            original_hw,
            mode="bilinear",
            align_corners=False,
        )
        torch.testing.assert_close(ours, expected[0], atol=1e-5, rtol=1e-5)


def test_miou_at_original_resolution_equals_mmsegmentation(voc):
    pytest.importorskip("mmseg")
    from mmseg.evaluation.metrics import IoUMetric  # mmsegmentation 1.x

    tmp, root, train, val = voc
    options = TASKS.get("segmentation").parse_options(FAST)
    path = run_probe("segmentation", train, tmp / "runs", val=val, options=options, device="cpu", progress=False)
    result = json.loads(path.read_text())
    assert result["scoring"] == {"score_at": "original", "scored_fraction": 1.0, "protocol": "lin"}
    settings = result["probe"]["settings"]
    store = FeatureStore(val)
    head = TASKS.get("segmentation").build_head(settings, store.dim)
    head.load_state_dict(load_file(str(path.with_suffix(".safetensors"))))
    head.eval()
    num_classes = settings["num_classes"]
    shapes, maps = store.read_frames()
    areas = []
    for i, sample in enumerate(store.ids):
        x = torch.from_numpy(store.read("patch", i, i + 1)).permute(0, 3, 1, 2)  # (1, D, h, w)
        with torch.no_grad():
            pred = _mmseg_prediction(head(x), maps[i], (56, 56), tuple(int(v) for v in shapes[i]))
        label = torch.from_numpy(np.array(Image.open(root / "VOC2012" / "SegmentationClass" / f"{sample}.png")))
        areas.append(IoUMetric.intersect_and_union(pred[0], label.long(), num_classes, 255))
    totals = [sum(a[k] for a in areas) for k in range(4)]
    reference = IoUMetric.total_area_to_metrics(*totals, metrics=["mIoU"])
    confusion = np.array(result["metrics"]["confusion_matrix"])  # [true, pred]: the same pixels, pixel for pixel
    np.testing.assert_array_equal(confusion.diagonal(), totals[0].numpy())  # area_intersect
    np.testing.assert_array_equal(confusion.sum(0), totals[2].numpy())  # area_pred_label
    np.testing.assert_array_equal(confusion.sum(1), totals[3].numpy())  # area_label
    assert result["metrics"]["mIoU"] == pytest.approx(float(np.nanmean(reference["IoU"])), rel=1e-6)  # mmseg: float32
    assert result["metrics"]["pixel_accuracy"] == pytest.approx(float(reference["aAcc"]), rel=1e-6)
    assert result["metrics"]["num_pixels"] == int(totals[3].sum())  # every labelled original pixel


def test_stored_scoring_stays_available_and_differs(voc):
    tmp, _, train, val = voc
    options = TASKS.get("segmentation").parse_options({**FAST, "score_at": "stored"})
    path = run_probe("segmentation", train, tmp / "runs", val=val, options=options, device="cpu", progress=False)
    result = json.loads(path.read_text())
    assert result["scoring"]["score_at"] == "stored"
    assert result["metrics"]["num_pixels"] < sum(h * w for h, w in SIZES[3:])  # the 56x56 masks, not the originals


def test_crop_fit_scores_what_was_seen_and_warns(voc, caplog):
    tmp, root, _, _ = voc
    train, val = _extract(tmp, root, "train", fit="crop"), _extract(tmp, root, "val", fit="crop")
    options = TASKS.get("segmentation").parse_options(FAST)
    path = run_probe("segmentation", train, tmp / "runs", val=val, options=options, device="cpu", progress=False)
    result = json.loads(path.read_text())
    scoring = result["scoring"]
    assert 0.5 < scoring["scored_fraction"] < 1
    assert "--image-size" in scoring["warning"] and "--image-size" in caplog.text
    assert {"cause": "scoring_frame", "message": scoring["warning"]} in result["warnings"]


def _nyu_sync_stores(tmp_path, image_size):
    from tests.data.test_nyuv2 import write_sync

    if not (tmp_path / "sync").exists():
        write_sync(tmp_path)
    stores = {}
    for split in ("train", "test"):
        config = ExtractConfig(
            backbone="test-dinov2",
            dataset="nyuv2-sync",
            split=split,
            root=str(tmp_path),
            random_init=True,
            image_size=image_size,
            workers=0,
            device="cpu",
            dtype="float32",
        )
        stores[split] = extract(config, tmp_path / f"nyu-{split}-{image_size[1]}.h5", progress=False)
    return stores


def _numpy_depth_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """The toolbox on one 480x640 frame: Eigen crop rows 45:471, cols 41:601; 1e-3 < g < 10; pred clamped."""
    crop = np.zeros(gt.shape, bool)
    crop[45:471, 41:601] = True
    valid = crop & (gt > 1e-3) & (gt < 10)
    p, g = np.clip(pred[valid].astype(np.float64), 1e-3, 10), gt[valid].astype(np.float64)
    ratio = np.maximum(p / g, g / p)
    return {
        "d1": float((ratio < 1.25).mean()),
        "abs_rel": float(np.mean(np.abs(p - g) / g)),
        "rmse": float(np.sqrt(np.mean((p - g) ** 2))),
    }


def test_depth_at_original_resolution_equals_a_numpy_reference(tmp_path):
    from probekit.probes.resize import resize_bilinear

    stores = _nyu_sync_stores(tmp_path, (42, 56))  # 3:4: the window is the whole 480x640 frame
    options = TASKS.get("depth").parse_options({**FAST, "prediction": "regression"})
    path = run_probe(
        "depth",
        stores["train"],
        tmp_path / "runs",
        val=stores["test"],
        test=stores["test"],
        options=options,
        device="cpu",
        progress=False,
    )
    result = json.loads(path.read_text())
    assert result["scoring"]["score_at"] == "original" and result["scoring"]["scored_fraction"] == 1.0
    settings = result["probe"]["settings"]
    store = FeatureStore(stores["test"])
    head = TASKS.get("depth").build_head(settings, store.dim)
    head.load_state_dict(load_file(str(path.with_suffix(".safetensors"))))
    head.eval()
    x = torch.from_numpy(store.read("patch", 0, 1)).permute(0, 3, 1, 2)  # (1, D, h, w)
    cls = torch.from_numpy(store.read("cls", 0, 1))[:, :, None, None].expand(-1, -1, *x.shape[-2:])
    with torch.no_grad():
        pred = resize_bilinear(head(torch.cat([x, cls], dim=1)), (42, 56))  # (1, 42, 56) at the image size
    pred = F.interpolate(pred[None], (480, 640), mode="bilinear", align_corners=False)[0, 0].numpy()
    reference = _numpy_depth_metrics(pred, store.read_originals("depth", 0, 1)[0])
    for key, value in reference.items():
        assert result["metrics"][key] == pytest.approx(value, rel=1e-5), key


def test_depth_window_narrower_than_the_eigen_crop_is_reported(tmp_path):
    stores = _nyu_sync_stores(tmp_path, (56, 56))  # square: the window is the centre 480x480 of 640
    options = TASKS.get("depth").parse_options(FAST)
    path = run_probe(
        "depth",
        stores["train"],
        tmp_path / "runs",
        val=stores["test"],
        test=stores["test"],
        options=options,
        device="cpu",
        progress=False,
    )
    scoring = json.loads(path.read_text())["scoring"]
    assert scoring["scored_fraction"] == pytest.approx((560 - 80) / (601 - 41), abs=0.02)  # columns 80:560 seen
    assert "warning" in scoring


def test_stores_without_originals_are_scored_as_stored_and_say_so(voc, tmp_path):
    import shutil

    import h5py

    _, _, train, val = voc
    old = tmp_path / "old-val.h5"
    shutil.copy(val, old)
    with h5py.File(old, "a") as f:
        del f["originals"]  # as written before originals existed
    assert FeatureStore(old).originals is None
    options = TASKS.get("segmentation").parse_options(FAST)
    path = run_probe("segmentation", train, tmp_path / "runs", val=old, options=options, device="cpu", progress=False)
    result = json.loads(path.read_text())
    assert result["scoring"]["score_at"] == "stored" and result["probe"]["settings"]["score_at"] == "stored"
