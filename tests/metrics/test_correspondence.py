"""PCK@α against hand-computed examples: NaN padding, both comparisons, both averages, per category."""

from __future__ import annotations

import math

import numpy as np
import pytest

from probekit.errors import ProbekitError
from probekit.metrics.correspondence import PCKMetrics, pck_correct, pck_metrics

NAN = math.nan
# pair 0 ('cat', image reference 100): errors 5 and 10, third row padding
# pair 1 ('dog', bbox (10, 20, 210, 120) -> max(200, 100) = 200): error 50
# pair 2 ('dog'): no annotated keypoint -> skipped
TARGET = np.array(
    [[[10, 10], [50, 50], [NAN, NAN]], [[0, 0], [NAN, NAN], [NAN, NAN]], [[NAN, NAN], [NAN, NAN], [NAN, NAN]]]
)
PRED = np.array([[[13, 14], [60, 50], [0, 0]], [[30, 40], [1, 1], [2, 2]], [[0, 0], [0, 0], [0, 0]]], dtype=float)
REFERENCE = np.array([100.0, max(210 - 10, 120 - 20), 50.0])
CATEGORIES = ["cat", "dog", "dog"]


def test_pck_inclusive_by_hand():
    out = pck_metrics(PRED, TARGET, REFERENCE, CATEGORIES, alphas=(0.05, 0.1, 0.25), comparison="<=")
    # α=0.05: thresholds 5 / 10 -> pair 0: 5 <= 5 yes, 10 <= 5 no; pair 1: 50 <= 10 no
    assert out["pck_point@0.05"] == pytest.approx(1 / 3) and out["pck_image@0.05"] == pytest.approx((0.5 + 0) / 2)
    # α=0.1: thresholds 10 / 20 -> pair 0 both, pair 1 no
    assert out["pck_point@0.1"] == pytest.approx(2 / 3) and out["pck_image@0.1"] == pytest.approx((1 + 0) / 2)
    # α=0.25: thresholds 25 / 50 -> all three (50 <= 50)
    assert out["pck_point@0.25"] == 1.0 and out["pck_image@0.25"] == 1.0
    assert (out["num_pairs"], out["num_points"], out["num_skipped"]) == (2, 3, 1)
    assert out["per_category"]["cat"]["pck_point@0.05"] == 0.5 and out["per_category"]["dog"]["pck_image@0.1"] == 0.0
    assert out["per_category"]["dog"]["num_pairs"] == 1 and out["comparison"] == "<="


def test_pck_strict_drops_points_on_the_threshold():
    out = pck_metrics(PRED, TARGET, REFERENCE, CATEGORIES, alphas=(0.05, 0.1, 0.25), comparison="<")
    assert out["pck_point@0.05"] == 0.0  # 5 < 5 is false
    assert out["pck_point@0.1"] == pytest.approx(1 / 3)  # 5 < 10, 10 < 10 false
    assert out["pck_image@0.25"] == pytest.approx((1 + 0) / 2)  # 50 < 50 false


def test_streaming_equals_one_batch_and_nan_predictions_are_wrong():
    metric = PCKMetrics(alphas=(0.1,))
    for b in range(3):
        metric.update(PRED[b], TARGET[b], REFERENCE[b], CATEGORIES[b])
    assert metric.compute() == pck_metrics(PRED, TARGET, REFERENCE, CATEGORIES, alphas=(0.1,))
    correct, valid = pck_correct(np.full((1, 2, 2), NAN), np.zeros((1, 2, 2)), [10.0], alphas=(0.1,))
    assert valid.all() and not correct.any()


def test_bad_inputs():
    with pytest.raises(ProbekitError, match="comparison"):
        PCKMetrics(comparison="=<")
    with pytest.raises(ProbekitError, match="reference"):
        pck_metrics(PRED, TARGET, [100.0, 0.0, 1.0])
