"""Small helpers the metric modules share."""

from __future__ import annotations

import math

import torch

from probekit.errors import MetricError


def nan_to_none(values: list[float]) -> list[float | None]:
    """Per-class values for JSON: NaN (class absent, undefined) becomes None."""
    return [None if math.isnan(v) else v for v in values]


def require_tensor(x: object, name: str) -> torch.Tensor:
    """`x` itself if it is a torch tensor; a MetricError naming it otherwise (numpy arrays have no .device)."""
    if not isinstance(x, torch.Tensor):
        raise MetricError(f"{name} must be a torch.Tensor, got {type(x).__name__} (wrap it with torch.as_tensor)")
    return x


def require_no_nan(x: torch.Tensor, name: str) -> None:
    """NaN scores would give a plausible but meaningless number (argmax/clamp pass NaN on): refuse them."""
    if x.is_floating_point() and bool(torch.isnan(x).any()):
        count = int(torch.isnan(x).sum())
        raise MetricError(f"{name} hold {count} NaN values: the probe or its features are not finite")
