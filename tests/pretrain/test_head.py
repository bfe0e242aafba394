"""The DINO head: unit-norm prototypes via weight norm, and the frozen last layer."""

from __future__ import annotations

import pytest
import torch

from probekit.pretrain.head import DINOHead
from probekit.pretrain.optim import apply_schedule, build_optimizer


def _head(norm_last_layer: bool = True) -> DINOHead:
    torch.manual_seed(0)
    return DINOHead(8, prototypes=5, hidden_dim=16, bottleneck_dim=4, layers=3, norm_last_layer=norm_last_layer)


def test_prototypes_are_unit_vectors_and_logits_are_cosines():
    head = _head()
    weight = head.last_layer.weight  # (5, 4) = g * v / |v| with g = 1
    assert weight.norm(dim=1).tolist() == pytest.approx([1.0] * 5, abs=1e-6)
    x = torch.randn(3, 8)
    z = torch.nn.functional.normalize(head.mlp(x), dim=-1)
    assert torch.allclose(head(x), z @ weight.T, atol=1e-6)
    assert head(x).abs().max() <= 1 + 1e-6
    with torch.no_grad():  # rescaling the direction v changes nothing
        head.last_layer.parametrizations.weight.original1.mul_(7.0)
    assert head.last_layer.weight.norm(dim=1).tolist() == pytest.approx([1.0] * 5, abs=1e-6)


def test_norm_last_layer_fixes_the_scale():
    assert not _head(True).last_layer.parametrizations.weight.original0.requires_grad
    assert _head(False).last_layer.parametrizations.weight.original0.requires_grad


def test_last_layer_lr_zero_freezes_the_prototypes_only():
    head = _head()
    optimizer = build_optimizer(head, (0.9, 0.999), torch.device("cpu"))
    v0 = head.last_layer.parametrizations.weight.original1.detach().clone()
    mlp0 = head.mlp[0].weight.detach().clone()
    apply_schedule(optimizer, lr=1e-2, weight_decay=0.4, last_layer_lr=0.0)
    head(torch.randn(4, 8)).logsumexp(-1).sum().backward()
    optimizer.step()
    assert torch.equal(head.last_layer.parametrizations.weight.original1, v0)
    assert not torch.equal(head.mlp[0].weight, mlp0)


def test_no_weight_decay_on_biases():
    optimizer = build_optimizer(_head(), (0.9, 0.999), torch.device("cpu"))
    apply_schedule(optimizer, lr=1.0, weight_decay=0.4, last_layer_lr=0.5)
    for group in optimizer.param_groups:
        assert group["weight_decay"] == (0.4 if all(p.ndim > 1 for p in group["params"]) else 0.0)
        assert group["lr"] == (0.5 if group["is_last_layer"] else 1.0)
