"""The teacher update: an exponential moving average of the student's parameters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from probekit.pretrain.ema import update_teacher


def test_ema_update_by_hand():
    teacher, student = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        teacher.weight.fill_(1.0), teacher.bias.fill_(-1.0)
        student.weight.fill_(3.0), student.bias.fill_(1.0)
    update_teacher(teacher, student, momentum=0.9)
    assert teacher.weight.flatten().tolist() == pytest.approx([1.2, 1.2])  # 0.9 * 1 + 0.1 * 3
    assert teacher.bias.tolist() == pytest.approx([-0.8])
    assert student.weight.tolist() == [[3.0, 3.0]]
    update_teacher(teacher, student, momentum=1.0)
    assert teacher.weight.flatten().tolist() == pytest.approx([1.2, 1.2])
