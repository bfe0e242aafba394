"""Why a state dict does not load into a model: shared by the reference ViT's converters and backbone weight files."""

from __future__ import annotations

import torch
from torch import nn


def state_dict_mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> str:
    """What keeps `state` from loading strictly into `model` (shapes, missing, unexpected keys), or ''."""
    expected = model.state_dict()
    problems = [
        f"{k} has shape {tuple(v.shape)}, expected {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    problems += [f"missing {k}" for k in expected if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in expected]
    return ", ".join(problems[:4]) + (f" (+{len(problems) - 4} more)" if len(problems) > 4 else "")
