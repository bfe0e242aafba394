"""DINO and iBOT losses and the teacher centering, against hand-worked examples."""

from __future__ import annotations

import math

import pytest
import torch

from probekit.pretrain.loss import DINOLoss, IBOTPatchLoss

LN3 = math.log(3.0)


def test_center_is_a_running_mean_with_momentum_09():
    loss = DINOLoss(2, center_momentum=0.9)
    loss.update_center(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))  # batch mean (2, 3)
    assert loss.center.flatten().tolist() == pytest.approx([0.2, 0.3])
    loss.update_center(torch.tensor([[0.0, 0.0]]))
    assert loss.center.flatten().tolist() == pytest.approx([0.18, 0.27])


def test_teacher_probs_are_centred_and_sharpened():
    loss = DINOLoss(2)
    loss.center.copy_(torch.tensor([[0.2, 0.3]]))
    probs = loss.teacher_probs(torch.tensor([[1.0, 2.0]]), teacher_temp=0.5)
    # softmax(((1, 2) - (0.2, 0.3)) / 0.5) = softmax(1.6, 3.4)
    expected = 1 / (1 + math.exp(3.4 - 1.6))
    assert probs.flatten().tolist() == pytest.approx([expected, 1 - expected])


def test_dino_cross_entropy_skips_same_view_pairs():
    loss = DINOLoss(2, student_temp=0.1)
    s0 = torch.tensor([[0.0, 0.0]])  # student view 0: p = (1/2, 1/2)
    s1 = torch.tensor([[0.1 * LN3, 0.0]])  # student view 1: p = (3/4, 1/4)
    t0 = torch.tensor([[1.0, 0.0]])
    t1 = torch.tensor([[0.5, 0.5]])
    # pairs (t0, s1) and (t1, s0) only: -ln(3/4) and ln 2
    two_views = loss([s0, s1], [t0, t1])
    assert two_views.item() == pytest.approx((-math.log(0.75) + math.log(2)) / 2, rel=1e-6)
    # a local view s2 = s0 adds (t0, s2) = ln 2 and (t1, s2) = ln 2: 4 terms
    with_local = loss([s0, s1, s0], [t0, t1])
    assert with_local.item() == pytest.approx((-math.log(0.75) + 3 * math.log(2)) / 4, rel=1e-6)


def test_ibot_loss_weighs_each_masked_crop_equally():
    loss = IBOTPatchLoss(2, student_temp=0.1)
    masks = torch.tensor([[True, True, False, False], [False, False, False, False], [False, False, True, False]])
    s = torch.tensor([[0.1 * LN3, 0.0]] * 3)  # every masked patch: p = (3/4, 1/4)
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # CE: -ln 3/4, -ln 1/4, -ln 1/4
    # crop 0: two patches at weight 1/2; crop 1: none; crop 2: one at weight 1; divided by 3 crops
    expected = (0.5 * -math.log(0.75) + 0.5 * -math.log(0.25) + -math.log(0.25)) / 3
    assert loss(s, t, masks).item() == pytest.approx(expected, rel=1e-6)


def test_ibot_center_is_the_mean_over_masked_patches():
    loss = IBOTPatchLoss(2, center_momentum=0.9)
    loss.update_center(torch.tensor([[1.0, 0.0], [3.0, 2.0]]))
    assert loss.center.flatten().tolist() == pytest.approx([0.2, 0.1])


def test_koleo_by_hand():
    from probekit.pretrain.loss import koleo_loss

    # unit vectors at 0, 90 and 180 degrees: nearest neighbours at distance sqrt(2) for all three
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    assert koleo_loss(x).item() == pytest.approx(-math.log(math.sqrt(2)), rel=1e-5)
    # scale does not matter (rows are normalised); a closer pair lowers their distances
    y = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])  # 45 degrees apart from both
    d45 = math.sqrt(2 - math.sqrt(2))
    assert koleo_loss(y).item() == pytest.approx(-math.log(d45), rel=1e-5)
