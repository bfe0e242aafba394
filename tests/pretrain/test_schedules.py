"""Schedules against hand-computed values (DINOv2's CosineScheduler semantics)."""

from __future__ import annotations

import math

import pytest

from probekit.pretrain.config import PretrainConfig
from probekit.pretrain.schedules import CosineSchedule, build_schedules


def test_momentum_cosine_from_0996_to_1():
    s = build_schedules(PretrainConfig(), 100).momentum
    assert s[0] == pytest.approx(0.996)
    assert s[50] == pytest.approx(0.998)  # half way through the cosine: the mean of the two ends
    assert s[25] == pytest.approx(1 - 0.004 * (1 + math.cos(math.pi / 4)) / 2)
    assert s[99] == pytest.approx(1 - 0.002 * (1 + math.cos(math.pi * 99 / 100)))
    assert s[100] == 1.0 and s[10_000] == 1.0


def test_teacher_temperature_warms_up_linearly_then_stays():
    s = build_schedules(PretrainConfig(teacher_temp_warmup_fraction=0.3), 100).teacher_temp
    # np.linspace(0.04, 0.07, 30): 30 warmup steps, the last one already at 0.07
    assert s[0] == pytest.approx(0.04)
    assert s[1] == pytest.approx(0.04 + 0.03 / 29)
    assert s[29] == pytest.approx(0.07)
    assert s[30] == s[99] == s[500] == pytest.approx(0.07)


def test_lr_warmup_cosine_and_frozen_last_layer():
    config = PretrainConfig(
        batch_size=256, base_lr=0.004, min_lr=0.0, warmup_fraction=0.1, freeze_last_layer_fraction=0.05
    )
    s = build_schedules(config, 200)
    peak = 0.004 * 0.5  # sqrt(256 / 1024)
    assert s.lr[0] == 0.0 and s.lr[19] == pytest.approx(peak)  # 20 warmup steps
    assert s.lr[10] == pytest.approx(peak * 10 / 19)
    assert s.lr[20 + 90] == pytest.approx(peak / 2)  # cosine midpoint of the 180 remaining steps
    assert [s.last_layer_lr[i] for i in range(10)] == [0.0] * 10
    assert s.last_layer_lr[15] == s.lr[15] > 0


def test_weight_decay_cosine_from_004_to_04():
    s = build_schedules(PretrainConfig(), 10).weight_decay
    assert s[0] == pytest.approx(0.04) and s[5] == pytest.approx(0.22) and s[10] == 0.4


@pytest.mark.parametrize("total", [1, 2, 3, 7, 1000])
def test_any_total_starts_and_ends_right(total):
    s = build_schedules(PretrainConfig(), total)
    assert s.momentum[0] == pytest.approx(0.996) and s.momentum[total] == 1.0
    assert s.teacher_temp[0] == pytest.approx(0.04) and s.teacher_temp[total] == pytest.approx(0.07)
    assert all(0 <= s.lr[i] <= PretrainConfig().lr + 1e-12 for i in range(total))


def test_freeze_then_warmup():
    s = CosineSchedule(base=1.0, final=0.0, total=10, warmup=3, freeze=2)
    assert [s[i] for i in range(5)] == pytest.approx([0, 0, 0, 0.5, 1.0])
    assert s[10] == 0.0
