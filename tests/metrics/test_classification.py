import json
import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, top_k_accuracy_score

from probekit.metrics.classification import ClassificationMetrics, classification_metrics


def _batches(num_classes: int, sizes: tuple[int, ...], seed: int = 0, skip_class: int | None = None):
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in sizes:
        logits = torch.randn(n, num_classes, generator=g)
        target = torch.randint(0, num_classes, (n,), generator=g)
        if skip_class is not None:
            target[target == skip_class] = (skip_class + 1) % num_classes
        out.append((logits, target))
    return out


@pytest.mark.parametrize("skip_class", [None, 3])
def test_matches_sklearn_over_batches(skip_class):
    c = 10
    batches = _batches(c, (17, 32, 5, 64), skip_class=skip_class)
    metric = ClassificationMetrics(c)
    for logits, target in batches:
        metric.update(logits, target)
    out = metric.compute()

    logits = torch.cat([b[0] for b in batches]).numpy()
    y = torch.cat([b[1] for b in batches]).numpy()
    pred = logits.argmax(1)
    labels = np.arange(c)
    assert out["num_samples"] == len(y)
    assert out["top1"] == pytest.approx(accuracy_score(y, pred))
    assert out["top5"] == pytest.approx(top_k_accuracy_score(y, logits, k=5, labels=labels))
    # sklearn excludes classes absent from y_true (with a warning when they are predicted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        expected_bal = balanced_accuracy_score(y, pred)
    assert out["mean_per_class_recall"] == pytest.approx(expected_bal)
    assert out["confusion_matrix"] == confusion_matrix(y, pred, labels=labels).tolist()
    if skip_class is not None:
        assert out["per_class_recall"][skip_class] is None
        assert sum(row[skip_class] for row in out["confusion_matrix"]) > 0  # predicted though absent
    json.dumps(out)


def test_absent_class_is_left_out_of_balanced_accuracy():
    # class 2 never occurs in the targets but is predicted once
    logits = torch.tensor([[5.0, 0, 1], [0, 5.0, 1], [0, 1, 9.0], [5.0, 0, 1]])
    target = torch.tensor([0, 1, 1, 0])
    out = classification_metrics(logits, target, num_classes=3, top_k=(1, 2))
    assert out["top1"] == pytest.approx(3 / 4)
    assert out["top2"] == pytest.approx(1.0)  # sample 2: top-2 = {2, 1} contains the target
    assert out["mean_per_class_recall"] == pytest.approx((1.0 + 0.5) / 2)
    assert out["per_class_recall"] == [1.0, 0.5, None]
    assert out["confusion_matrix"] == [[2, 0, 0], [0, 1, 1], [0, 0, 0]]


def test_top_k_larger_than_num_classes_is_dropped():
    out = classification_metrics(torch.randn(8, 3), torch.randint(0, 3, (8,)), num_classes=3)
    assert "top1" in out and "top5" not in out


def test_empty_and_reset():
    metric = ClassificationMetrics(4)
    out = metric.compute()
    assert math.isnan(out["top1"]) and math.isnan(out["mean_per_class_recall"]) and out["num_samples"] == 0
    metric.update(torch.randn(6, 4), torch.randint(0, 4, (6,)))
    metric.reset()
    assert metric.compute()["num_samples"] == 0


def test_bad_inputs():
    metric = ClassificationMetrics(4)
    with pytest.raises(ValueError, match="one by one"):
        metric.update(torch.randn(2, 6, 4), torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        metric.update(torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 4, 0]))
    with pytest.raises(ValueError, match="classes"):
        metric.update(torch.randn(6, 5), torch.zeros(6, dtype=torch.long))


@pytest.mark.gpu
def test_state_follows_cuda_inputs():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    logits, target = torch.randn(32, 10), torch.randint(0, 10, (32,))
    metric = ClassificationMetrics(10)
    metric.update(logits.cuda(), target.cuda())
    assert metric.compute() == classification_metrics(logits, target, 10)
