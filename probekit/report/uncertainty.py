"""Uncertainty in the comparison table: each cell's spread over training seeds and its bootstrap interval, and
the bold rule (a column's best is bold only when its 95% interval clears the runner-up's).

A cell reads `42.2 ± 1.3 [40.1, 44.0]`: the value (the mean over seeds where the run has several), `± std`
over training seeds (`metrics_std`, ddof 0) where there are seeds, and `[low, high]` the bootstrap 95%
interval over evaluation images (`metrics_ci`) where the run has one. The same text goes to markdown, CSV and
LaTeX; bold is `**...**` in markdown, `\\textbf{...}` in LaTeX and left out of the CSV.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from probekit.metrics.bootstrap import RESAMPLES

BOLD = "**"


@dataclass(frozen=True)
class Entry:
    """A number the table shows: its row, its value and its interval (None: the run has none)."""

    row: int
    value: float
    interval: tuple[float, float] | None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def interval_of(result: dict[str, Any], key: str) -> tuple[float, float] | None:
    """The run's bootstrap interval of metric `key` ([low, high] in `metrics_ci`), None when it has none."""
    pair = (result.get("metrics_ci") or {}).get(key)
    if isinstance(pair, list) and len(pair) == 2 and all(_number(v) for v in pair):
        return float(pair[0]), float(pair[1])
    return None


def cell_text(
    percent: bool,
    value: Any,
    spread: Any = None,
    interval: tuple[float, float] | None = None,
    decimals: int = 3,
) -> str:
    """`value`, `value ± std` with seeds, and ` [low, high]` with an interval (percent columns in % with one
    decimal, others with `decimals`)."""
    if value is None:
        return "–"

    def shown(x: float) -> str:
        return f"{100 * x:.1f}" if percent else f"{x:.{decimals}f}"

    text = shown(value)
    if _number(spread):
        text += f" ± {shown(spread)}"
    if interval is not None:
        text += f" [{shown(interval[0])}, {shown(interval[1])}]"
    return text


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def winner(entries: Sequence[Entry], higher_is_better: bool) -> tuple[int | None, str | None]:
    """(the row to bold, or None; why none, or None): the best value is bold only when it beats the runner-up
    and both have intervals that do not overlap. Fewer than two numbers: nothing to compare, no reason."""
    ranked = sorted(entries, key=lambda e: -e.value if higher_is_better else e.value)
    if len(ranked) < 2:
        return None, None
    best, runner_up = ranked[0], ranked[1]
    if best.value == runner_up.value:
        return None, "the best two are tied"
    if best.interval is None or runner_up.interval is None:
        return None, "the best or the runner-up has no 95% interval"
    if _overlap(best.interval, runner_up.interval):
        return None, "the best's 95% interval overlaps the runner-up's"
    return best.row, None


def mark_winners(
    rows: list[list[str]], headers: Sequence[str], entries: dict[int, list[Entry]], directions: Sequence[bool]
) -> list[str]:
    """Bold each column's winner in `rows` (column index -> its entries; `directions[i]`: higher is better for
    column i + 1) and return one footnote line per reason a column has no bold."""
    reasons: dict[str, list[str]] = {}
    for column, column_entries in sorted(entries.items()):
        row, reason = winner(column_entries, directions[column - 1])
        if row is not None:
            rows[row][column] = bold(rows[row][column])
        elif reason is not None:
            reasons.setdefault(reason, []).append(headers[column])
    return [f"no bold in {', '.join(columns)}: {reason}" for reason, columns in reasons.items()]


def bold(cell: str) -> str:
    """The cell's text in bold, its markers (`*` shared, `!` warned) left after it."""
    text = cell.rstrip("*!")
    return f"{BOLD}{text}{BOLD}{cell[len(text) :]}"


def legend(rows: list[list[str]]) -> str | None:
    """The footnote saying what ± and [ , ] are, when a cell shows either."""
    cells = [cell for row in rows for cell in row[1:]]
    seeds, intervals = any(" ± " in c for c in cells), any(" [" in c for c in cells)
    if not (seeds or intervals):
        return None
    parts = ["± std over training seeds (or few-shot draws)"] if seeds else []
    if intervals:
        parts.append(f"[low, high] bootstrap 95% interval over the evaluation images ({RESAMPLES} resamples)")
    parts.append("bold: a column's best whose interval does not overlap the runner-up's")
    return "; ".join(parts)


def plain(cell: str) -> str:
    """A cell for the CSV: bold markers removed."""
    return cell.replace(BOLD, "")


def latex(cell: str) -> str:
    r"""A cell (already escaped) for LaTeX: ± as $\pm$, bold as \textbf{...}."""
    cell = cell.replace("±", r"$\pm$")
    if cell.startswith(BOLD):
        end = cell.index(BOLD, len(BOLD))
        cell = r"\textbf{" + cell[len(BOLD) : end] + "}" + cell[end + len(BOLD) :]
    return cell
