"""Small helpers the metric modules share."""

from __future__ import annotations

import math


def nan_to_none(values: list[float]) -> list[float | None]:
    """Per-class values for JSON: NaN (class absent, undefined) becomes None."""
    return [None if math.isnan(v) else v for v in values]
