"""InfoNCE and the SigLIP sigmoid loss on a 2 x 3 similarity matrix, checked by hand."""

from __future__ import annotations

import math

import pytest
import torch

from probekit.probes.contrastive import (
    PROJECTION_LOSSES,
    ContrastiveProjection,
    InfoNCE,
    PatchProjection,
    SigmoidPairwise,
    infonce_loss,
    sigmoid_loss,
)

SIM = torch.tensor([[0.9, 0.1, -0.2], [0.3, 0.8, 0.0]])
POSITIVE = torch.tensor([0, 1])


def test_infonce_by_hand():
    tau = 0.5  # logits [[1.8, 0.2, -0.4], [0.6, 1.6, 0.0]]
    row0 = -1.8 + math.log(math.exp(1.8) + math.exp(0.2) + math.exp(-0.4))
    row1 = -1.6 + math.log(math.exp(0.6) + math.exp(1.6) + math.exp(0.0))
    loss = infonce_loss(InfoNCE(tau)(SIM), POSITIVE)
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_sigmoid_by_hand_with_siglip_init():
    criterion = SigmoidPairwise()  # t = 10, b = -10: logits [[-1, -9, -12], [-7, -2, -10]]
    assert criterion.log_scale.exp().item() == pytest.approx(10.0) and criterion.bias.item() == -10.0
    nll = lambda x: math.log(1 + math.exp(-x))  # noqa: E731 - -log σ(x)
    row0 = nll(-1) + nll(9) + nll(12)  # positive at column 0, z = -1 elsewhere
    row1 = nll(7) + nll(-2) + nll(10)
    logits = criterion(SIM)
    loss = sigmoid_loss(logits, POSITIVE)
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)  # normalised by the 2 source points
    loss.backward()
    assert criterion.log_scale.grad is not None and criterion.bias.grad.abs() > 0  # t and b are learned


def test_projection_starts_at_identity_and_logits_cover_valid_points():
    assert torch.equal(PatchProjection(4, 4).linear.weight, torch.eye(4))
    w = PatchProjection(6, 3).linear.weight
    assert torch.allclose(w @ w.T, torch.eye(3), atol=1e-5)  # orthogonal rows when d != D
    head = ContrastiveProjection(4, 4, PROJECTION_LOSSES.get("infonce")(temperature=1.0))
    batch = {"src": torch.eye(4)[None, :3], "trg": torch.eye(4)[None], "valid": torch.tensor([[1, 0, 1]])}
    logits = head(batch)
    assert logits.shape == (2, 4) and torch.equal(logits, torch.eye(4)[[0, 2]])
