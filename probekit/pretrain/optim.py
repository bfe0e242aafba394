"""AdamW over the student with DINO's parameter groups, and the per-step schedule applied to them."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def param_groups(student: nn.Module) -> list[dict[str, Any]]:
    """Groups by (weight decay or not, prototype layer or not).

    No weight decay on biases and 1-D parameters (norms), as DINO's get_params_groups; the
    prototype layer ('last_layer') gets its own lr schedule so it can be frozen at the start.
    """
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in student.named_parameters():
        if not param.requires_grad:
            continue
        decay = not (name.endswith(".bias") or param.ndim == 1)
        last = "last_layer" in name
        groups.setdefault((decay, last), []).append(param)
    return [
        {"params": params, "wd_multiplier": 1.0 if decay else 0.0, "is_last_layer": last}
        for (decay, last), params in sorted(groups.items())
    ]


def build_optimizer(student: nn.Module, betas: tuple[float, float], device: torch.device) -> torch.optim.AdamW:
    fused = device.type == "cuda"
    return torch.optim.AdamW(
        param_groups(student),
        lr=0.0,
        betas=betas,
        weight_decay=0.0,
        **({"fused": True} if fused else {"foreach": True}),
    )


def apply_schedule(optimizer: torch.optim.Optimizer, lr: float, weight_decay: float, last_layer_lr: float) -> None:
    """Set this step's lr and weight decay on every group (dinov2/train/train.py apply_optim_scheduler)."""
    for group in optimizer.param_groups:
        group["lr"] = last_layer_lr if group["is_last_layer"] else lr
        group["weight_decay"] = weight_decay * group["wd_multiplier"]
