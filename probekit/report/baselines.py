"""Each encoder beside its own baselines in a table: row groups (pixels, random init, encoder) and the gap to its
random init, the honest "what the pretraining bought".

Everything here reads results JSONs only: a run's backbone block says whether it is a pixels baseline
(`backbone_model` pixels-pP), a random-init network (`weights_source` random-init) or an encoder, and
its patch size; an encoder's random-init twin is the run labelled "<alias> (random init)".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

RANDOM_INIT = "random-init"  # the weights_source of seeded random weights (probekit.backbones.spec)


def _backbone(result: Mapping[str, Any]) -> Mapping[str, Any]:
    """The run's backbone block; {} when a hand-edited JSON holds something else there."""
    block = result.get("backbone")
    return block if isinstance(block, Mapping) else {}


def is_pixels(result: Mapping[str, Any]) -> bool:
    return str(_backbone(result).get("backbone_model", "")).startswith("pixels")


def is_random_init(result: Mapping[str, Any]) -> bool:
    return _backbone(result).get("weights_source") == RANDOM_INIT


def twin_label(result: Mapping[str, Any]) -> str | None:
    """The table label of an encoder run's random-init twin; None for the baselines themselves."""
    if is_pixels(result) or is_random_init(result) or "backbone" not in _backbone(result):
        return None
    return f"{_backbone(result)['backbone']} (random init)"


def grouped_rows(labels: Sequence[str], results: Sequence[Mapping[str, Any]]) -> list[str]:
    """Row labels with each encoder after its own baselines: the pixels row of its patch size (shown once, with
    the first encoder of that size) and its random init; rows without an encoder keep their order, first."""
    runs = {str(r["label"]): r for r in results}
    encoders = [label for label in labels if label in runs and twin_label(runs[label]) is not None]
    placed: list[str] = []
    for label in encoders:
        result = runs[label]
        size = _backbone(result).get("patch_size")
        pixels = [
            p for p in labels if p in runs and is_pixels(runs[p]) and _backbone(runs[p]).get("patch_size") == size
        ]
        twin = twin_label(result) or ""
        placed += [p for p in pixels if p not in placed] + ([twin] if twin in labels and twin not in placed else [])
        placed.append(label)
    return [label for label in labels if label not in placed] + placed


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def gap_to_random_init(value: Any, twin_value: Any, percent: bool, decimals: int = 3) -> str:
    """' (+7.8)': the encoder's value minus its random init's (percentage points for percent columns, else
    with the column's `decimals`)."""
    if not (_is_number(value) and _is_number(twin_value)):
        return ""
    gap = value - twin_value
    return f" ({100 * gap:+.1f})" if percent else f" ({gap:+.{decimals}f})"


Cells = Mapping[tuple[str, str, tuple[str, ...]], Sequence[Mapping[str, Any]]]  # (row, task, group) -> runs


def twin_value(cells: Cells, row: str, task: str, group: tuple[str, ...], key: str) -> Any:
    """Metric `key` of the newest run of cell (row, task, group)'s random-init twin in the same column group;
    None where the row is a baseline or has no twin."""
    runs = cells.get((row, task, group), [])
    twin = twin_label(runs[-1]) if runs else None
    twins = cells.get((twin, task, group), []) if twin is not None else []
    return twins[-1].get("metrics", {}).get(key) if twins else None


def gap_cell(cells: Cells, row: str, task: str, group: tuple[str, ...], column: Any) -> str:
    """The gap note of cell (row, task, group) for the metric of `column` (a tasks.base.Column): against the newest
    run of the row's random-init twin in the same column group; '' where the row is a baseline or has no twin."""
    runs = cells.get((row, task, group), [])
    ours = runs[-1].get("metrics", {}).get(column.key) if runs else None
    return gap_to_random_init(ours, twin_value(cells, row, task, group, column.key), column.percent, column.decimals)


GAP_NOTE = "(+x) after an encoder's main metric: its gap to its own random init, what the pretraining bought"


def has_gaps(cells: Cells) -> bool:
    """Whether some encoder row of the table has its random-init twin beside it (then the table explains the gap)."""
    return any(
        runs and (twin := twin_label(runs[-1])) is not None and (twin, task, group) in cells
        for (_, task, group), runs in cells.items()
    )
