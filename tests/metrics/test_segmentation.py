import json
import math

import numpy as np
import pytest
import torch

from probekit.metrics.segmentation import SegmentationMetrics, reduce_zero_label, segmentation_metrics

IGNORE = 255


def _reference(preds: list[np.ndarray], targets: list[np.ndarray], num_classes: int, ignore: int = IGNORE):
    """Independent numpy version of mmseg's per-image areas summed over the dataset."""
    inter = np.zeros(num_classes)
    area_p = np.zeros(num_classes)
    area_t = np.zeros(num_classes)
    for p, t in zip(preds, targets, strict=True):
        keep = t != ignore
        p, t = p[keep], t[keep]
        for c in range(num_classes):
            inter[c] += np.sum((p == c) & (t == c))
            area_p[c] += np.sum(p == c)
            area_t[c] += np.sum(t == c)
    union = area_p + area_t - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / union
        acc = inter / area_t
        aacc = inter.sum() / area_t.sum()
    return iou, acc, aacc


def _random_masks(num_images: int, num_classes: int, shape=(12, 16), seed: int = 0, absent: tuple[int, ...] = ()):
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(num_images):
        t = rng.integers(0, num_classes, size=shape)
        for c in absent:
            t[t == c] = (c + 1) % num_classes
        t[rng.random(shape) < 0.2] = IGNORE
        p = np.where(rng.random(shape) < 0.6, t, rng.integers(0, num_classes, size=shape))
        p[p == IGNORE] = 0
        preds.append(p)
        targets.append(t)
    return preds, targets


def _none_to_nan(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def test_matches_numpy_reference_with_ignore_and_absent_classes():
    c = 7
    preds, targets = _random_masks(5, c, absent=(4,))
    preds[0][0, 0] = 4  # class 4: predicted once, never in the ground truth -> IoU 0, stays in the mean
    # class 6: neither predicted nor present -> NaN, left out
    for p, t in zip(preds, targets, strict=True):
        p[p == 6] = 0
        t[t == 6] = 1
    metric = SegmentationMetrics(c)
    for i in range(0, 5, 2):  # batches of 2, 2, 1
        metric.update(torch.from_numpy(np.stack(preds[i : i + 2])), torch.from_numpy(np.stack(targets[i : i + 2])))
    out = metric.compute()
    iou, acc, aacc = _reference(preds, targets, c)
    np.testing.assert_allclose(_none_to_nan(out["per_class_iou"]), iou)
    np.testing.assert_allclose(_none_to_nan(out["per_class_accuracy"]), acc)
    assert out["per_class_iou"][4] == 0.0 and out["per_class_iou"][6] is None
    assert out["per_class_accuracy"][4] is None
    assert out["mIoU"] == pytest.approx(np.nanmean(iou))
    assert out["mean_accuracy"] == pytest.approx(np.nanmean(acc))
    assert out["pixel_accuracy"] == pytest.approx(aacc)
    assert np.array(out["confusion_matrix"]).sum() == sum(int((t != IGNORE).sum()) for t in targets)
    json.dumps(out)


def test_dataset_wide_not_per_image():
    # image 1: class 0 perfect on 1 pixel; image 2: class 0 wrong on 3 pixels
    pred = torch.tensor([[[0, 1, 1, 1]], [[1, 1, 1, 1]]])
    target = torch.tensor([[[0, 1, 1, 1]], [[0, 0, 0, 1]]])
    out = segmentation_metrics(pred, target, num_classes=2)
    # dataset-wide: class 0 I=1, U=4 -> 0.25; class 1 I=4, U=7 -> 4/7
    assert out["per_class_iou"] == pytest.approx([0.25, 4 / 7])
    assert out["mIoU"] == pytest.approx((0.25 + 4 / 7) / 2)
    assert out["pixel_accuracy"] == pytest.approx(5 / 8)


def test_all_ignored_gives_nan_without_crash():
    metric = SegmentationMetrics(3)
    metric.update(torch.zeros(2, 4, 4, dtype=torch.long), torch.full((2, 4, 4), IGNORE))
    out = metric.compute()
    assert math.isnan(out["mIoU"]) and math.isnan(out["pixel_accuracy"]) and math.isnan(out["mean_accuracy"])
    assert out["per_class_iou"] == [None, None, None]
    assert out["num_pixels"] == 0
    json.dumps(out)  # NaN floats dump as NaN; the lists hold None
    assert math.isnan(SegmentationMetrics(3).compute()["mIoU"])  # nothing seen at all


def test_out_of_range_target_is_an_error():
    metric = SegmentationMetrics(3)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        metric.update(torch.zeros(1, 2, 2, dtype=torch.long), torch.tensor([[[0, 1], [3, 255]]]))
    with pytest.raises(ValueError, match="predicted"):
        metric.update(torch.tensor([[[0, 7], [0, 0]]]), torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        metric.update(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))


def test_reduce_zero_label():
    raw = torch.tensor([0, 1, 2, 150, 255], dtype=torch.uint8)
    assert reduce_zero_label(raw).tolist() == [255, 0, 1, 149, 255]
    assert reduce_zero_label(raw.long()).tolist() == [255, 0, 1, 149, 255]
    assert reduce_zero_label(raw).dtype == torch.uint8


def test_matches_torchmetrics_on_present_classes():
    tm = pytest.importorskip("torchmetrics.classification")
    c = 6
    preds, targets = _random_masks(4, c, seed=3, absent=(2,))
    p, t = torch.from_numpy(np.stack(preds)), torch.from_numpy(np.stack(targets))
    ours = segmentation_metrics(p, t, c)
    ref = tm.MulticlassJaccardIndex(num_classes=c, average=None, ignore_index=IGNORE)
    ref.update(p, t)
    ref_iou = ref.compute().numpy()
    present = [k for k in range(c) if (t == k).any()]
    np.testing.assert_allclose(np.array(ours["per_class_iou"])[present].astype(float), ref_iou[present], rtol=1e-6)


def test_matches_mmsegmentation():
    pytest.importorskip("mmseg")
    from mmseg.evaluation.metrics import IoUMetric  # mmsegmentation 1.x

    c = 5
    preds, targets = _random_masks(4, c, seed=7, absent=(3,))
    results = [
        IoUMetric.intersect_and_union(torch.from_numpy(p), torch.from_numpy(t), c, IGNORE)
        for p, t in zip(preds, targets, strict=True)
    ]
    totals = [sum(r[i] for r in results) for i in range(4)]
    ref = IoUMetric.total_area_to_metrics(*totals, metrics=["mIoU"])
    ours = segmentation_metrics(torch.from_numpy(np.stack(preds)), torch.from_numpy(np.stack(targets)), c)
    np.testing.assert_allclose(_none_to_nan(ours["per_class_iou"]), ref["IoU"], rtol=1e-6)
    np.testing.assert_allclose(_none_to_nan(ours["per_class_accuracy"]), ref["Acc"], rtol=1e-6)
    assert ours["mIoU"] == pytest.approx(np.nanmean(ref["IoU"]))
    assert ours["mean_accuracy"] == pytest.approx(np.nanmean(ref["Acc"]))
    assert ours["pixel_accuracy"] == pytest.approx(float(ref["aAcc"]))


@pytest.mark.gpu
def test_state_follows_cuda_inputs():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    preds, targets = _random_masks(3, 5, seed=11)
    p, t = torch.from_numpy(np.stack(preds)), torch.from_numpy(np.stack(targets))
    metric = SegmentationMetrics(5)
    metric.update(p.cuda(), t.cuda())
    assert metric.confmat.is_cuda
    assert metric.compute() == segmentation_metrics(p, t, 5)
