"""Comparison tables from results JSONs alone: rows = backbones, columns = task metrics."""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path
from typing import Any

from probekit.errors import ProbekitError
from probekit.files import atomic_write_text
from probekit.report import uncertainty
from probekit.report.baselines import GAP_NOTE, gap_cell, grouped_rows, has_gaps, twin_value
from probekit.report.published import Citations, no_match_line, paper_rows
from probekit.report.results import scan_results

log = logging.getLogger(__name__)

# What a table row can be; the other keys, where they vary within a task, name the column groups.
GROUP_KEYS = ("backbone", "dataset", "image_size", "layers", "split")


def _block(parent: Any, key: str) -> dict[str, Any]:
    """parent[key] when both are mappings, else {}: a hand-edited results JSON may hold anything there."""
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, dict) else {}


def identity(result: dict[str, Any]) -> dict[str, str]:
    """What tells runs of one task apart in a table: backbone (weights and init in its label), dataset,
    image size, layers used and the split evaluated."""
    size = _block(result, "features").get("image_size")
    layers = _block(_block(result, "probe"), "settings").get("layers")
    return {
        "backbone": str(result["label"]),
        "dataset": str(_block(result, "dataset").get("dataset", "?")),
        "image_size": "x".join(map(str, size)) if isinstance(size, list) else str(size),
        # a layer sweep is one run whatever layer won (the winner is in its JSON's layer_sweep)
        "layers": "sweep"
        if result.get("layer_sweep")
        else ",".join(map(str, layers))
        if isinstance(layers, list)
        else str(layers),
        "split": str(result.get("evaluated_on")),
    }


def _main(task: str) -> Any:
    """A task's main column: the first of its columns."""
    columns = _columns(task)
    return columns[0] if columns else None


def _columns(task: str) -> tuple[Any, ...]:
    from probekit.tasks import TASKS

    return TASKS.get(task).columns if task in TASKS else ()


def build_table(
    results: list[dict[str, Any]],
    group_by: str = "backbone",
    collisions: list[str] | None = None,
    flagged: list[str] | None = None,
    paper: list[str] | None = None,
    notes: list[str] | None = None,
    values: list[dict[str, Any]] | None = None,
) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per value of `group_by`, one column group per task (and per value of the other
    identity keys that vary within the task). Runs sharing a cell are appended to `collisions`, never dropped
    silently: the newest is shown, marked '*'. Shown runs that carry under-training warnings are marked '!'
    and named in `flagged`. With `paper` (a list), each row is followed by the published numbers its runs match
    and ours minus them (probekit/report/published.py), and `paper` receives the reference lines.

    Cells show ± over seeds and bootstrap intervals; a column's best is bold only when
    its interval clears the runner-up's (probekit.report.uncertainty), the reasons for no bold go to `notes`.
    Encoders follow their own baselines (probekit/report/baselines.py), their main metric
    with the gap to their random init, explained in `notes`. With `values` (a list), each shown cell's
    numbers, unrounded, are appended as one record (`value_record`): what table_values.csv holds."""
    from probekit.tasks import TASKS

    if group_by not in GROUP_KEYS:
        raise ProbekitError(f"--group-by {group_by!r}: use one of {', '.join(GROUP_KEYS)}")
    ids = [identity(r) for r in results]
    varying = {
        task: [k for k in GROUP_KEYS if k != group_by and _splits_a_row(k, task, group_by, results, ids)]
        for task in {r["task"] for r in results}
    }
    cells: dict[tuple[str, str, tuple[str, ...]], list[dict[str, Any]]] = {}
    for result, ident in sorted(zip(results, ids, strict=True), key=lambda pair: pair[0].get("created", "")):
        group = tuple(f"{k}={ident[k]}" for k in varying[result["task"]])
        cells.setdefault((ident[group_by], result["task"], group), []).append(result)
    tasks = [t for t in TASKS if any(task == t for _, task, _ in cells)]
    groups = {t: sorted({g for _, task, g in cells if task == t}) for t in tasks}
    columns = [(t, g, c) for t in tasks for g in groups[t] for c in TASKS.get(t).columns]
    labels = grouped_rows(sorted({row for row, _, _ in cells}, key=_row_order), results)
    latest = {key: runs[-1] for key, runs in cells.items()}
    rows = [_trivial_row(latest, columns)] if any(r.get("trivial_baseline") for r in latest.values()) else []
    citations = Citations() if paper is not None else None
    entries: dict[int, list[uncertainty.Entry]] = {}  # column index -> the numbers it shows (the bold rule)
    for label in labels:
        row = [label]
        for task, group, column in columns:
            runs = cells.get((label, task, group), [])
            value: Any = runs[-1].get("metrics", {}).get(column.key) if runs else None
            spread = (runs[-1].get("metrics_std") or {}).get(column.key) if runs else None  # over seeds
            interval = uncertainty.interval_of(runs[-1], column.key) if runs else None
            if _is_number(value):
                entries.setdefault(len(row), []).append(uncertainty.Entry(len(rows), float(value), interval))
            warned = bool(runs and runs[-1].get("warnings"))
            cell = _format(column, value, spread, interval)
            gap = gap_cell(cells, label, task, group, column) if column is _main(task) else ""
            row.append(cell + gap + ("*" if len(runs) > 1 else "") + ("!" if warned else ""))
            if values is not None and runs:
                twin = twin_value(cells, label, task, group, column.key)
                values.append(value_record(group_by, label, task, group, column, runs, value, spread, interval, twin))
        rows.append(row)
        if citations is not None:
            rows.extend(paper_rows(label, latest, columns, citations, _format))
    if collisions is not None:
        collisions.extend(_collision_lines(cells))
    if flagged is not None:
        flagged.extend(_warning_lines(latest))
    if paper is not None and citations is not None:
        paper.extend(citations.lines())
    if notes is not None and has_gaps(cells):
        notes.append(GAP_NOTE)
    header = [group_by] + [column.header + (f" ({', '.join(g)})" if g else "") for _, g, column in columns]
    bold_notes = uncertainty.mark_winners(rows, header, entries, [c.higher_is_better for _, _, c in columns])
    legend = uncertainty.legend(rows)  # None: no cell shows a spread or an interval, so nothing to say
    if notes is not None and legend is not None:
        notes.extend([legend, *bold_notes])
    return header, rows


def _splits_a_row(key: str, task: str, group_by: str, results: list[dict[str, Any]], ids: list[dict[str, str]]) -> bool:
    """True when some row holds runs of `task` that differ in `key`: then `key` gets its own columns (a value
    that only differs between rows, such as each backbone's own last layer, does not)."""
    seen: dict[str, set[str]] = {}
    for result, ident in zip(results, ids, strict=True):
        if result["task"] == task:
            seen.setdefault(ident[group_by], set()).add(ident[key])
    return any(len(values) > 1 for values in seen.values())


def _collision_lines(cells: dict[tuple[str, str, tuple[str, ...]], list[dict[str, Any]]]) -> list[str]:
    """One line per cell that several runs share, naming every file (the newest, shown, last)."""
    lines = []
    for (row, task, group), runs in sorted(cells.items()):
        if len(runs) > 1:
            names = ", ".join(Path(r.get("_path", "?")).name for r in runs)
            lines.append(
                f"{row} / {task}{' ' + ', '.join(group) if group else ''}: {len(runs)} runs share this cell "
                f"({names}); the newest is shown, marked *"
            )
    return lines


def _warning_lines(latest: dict[tuple[str, str, tuple[str, ...]], dict[str, Any]]) -> list[str]:
    """One line per shown run with under-training warnings: the cell, the causes and the file to read."""
    lines = []
    for (row, task, group), result in sorted(latest.items()):
        if warnings := result.get("warnings"):
            causes = ", ".join(dict.fromkeys(str(w.get("cause", "?")) for w in warnings if isinstance(w, dict)))
            lines.append(
                f"{row} / {task}{' ' + ', '.join(group) if group else ''}: may be undertrained ({causes}); "
                f"see the warnings in {Path(result.get('_path', '?')).name}"
            )
    return lines


def _trivial_row(latest: dict[tuple[str, str, tuple[str, ...]], dict[str, Any]], columns: list[Any]) -> list[str]:
    """The trivial predictors of each task (same for every backbone on the same data): the floor to beat."""
    from probekit.tasks import TASKS

    by_cell: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    for (_, task, group), result in latest.items():
        by_cell[(task, group)] = by_cell.get((task, group)) or result.get("trivial_baseline") or {}
    tasks = dict.fromkeys(task for task, _, _ in columns)
    names = list(dict.fromkeys(TASKS.get(t).trivial_name for t in tasks if t != "segmentation")) or ["majority class"]
    return [f"no features ({' / '.join(names)})"] + [
        _format(column, by_cell.get((task, group), {}).get(column.key)) for task, group, column in columns
    ]


def _row_order(label: str) -> tuple[int, str]:
    """Baselines first (pixels, then random init), then the pretrained encoders."""
    return (0 if label.startswith("pixels") else 1 if "random init" in label else 2, label)


def _format(column: Any, value: Any, spread: Any = None, interval: tuple[float, float] | None = None) -> str:
    """A cell: the value (in percent for percent columns), ± the spread over seeds and the interval where given."""
    return uncertainty.cell_text(column.percent, value, spread, interval, column.decimals)


VALUE_FIELDS = (
    "task", "columns", "metric", "header", "higher_is_better", "value", "std", "ci_low", "ci_high",
    "random_init_value", "gap_to_random_init", "runs_in_cell", "warnings", "results_file",
)  # fmt: skip


def value_record(
    group_by: str,
    label: str,
    task: str,
    group: tuple[str, ...],
    column: Any,
    runs: list[dict[str, Any]],
    value: Any,
    spread: Any,
    interval: tuple[float, float] | None,
    twin: Any,
) -> dict[str, Any]:
    """One table cell as numbers (the metric's own units: fractions, not percent; None where absent): for
    pandas and plotting, where table.csv's cells are the formatted text."""

    def number(x: Any) -> float | None:
        return float(x) if _is_number(x) else None

    ours, theirs = number(value), number(twin)
    gap = ours - theirs if ours is not None and theirs is not None else None
    return {
        group_by: label,
        "task": task,
        "columns": ", ".join(group),
        "metric": column.key,
        "header": column.header,
        "higher_is_better": column.higher_is_better,
        "value": ours,
        "std": number(spread),
        "ci_low": interval[0] if interval else None,
        "ci_high": interval[1] if interval else None,
        "random_init_value": theirs,
        "gap_to_random_init": gap,
        "runs_in_cell": len(runs),
        "warnings": len(runs[-1].get("warnings") or []),
        "results_file": Path(str(runs[-1].get("_path", ""))).name,
    }


def values_csv(group_by: str, records: list[dict[str, Any]]) -> str:
    """table_values.csv: one row per shown cell, numbers unrounded, empty where absent."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[group_by, *VALUE_FIELDS])
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in record.items()} for record in records)
    return buffer.getvalue()


def to_markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *([uncertainty.plain(c) for c in row] for row in rows)])
    return buffer.getvalue()


def to_latex(header: list[str], rows: list[list[str]]) -> str:
    def escape(s: str) -> str:
        return s.replace("_", r"\_").replace("%", r"\%").replace("δ", r"$\delta$")

    body = [" & ".join(escape(c) for c in header) + r" \\", r"\midrule"]
    body += [" & ".join(uncertainty.latex(escape(c)) for c in row) + r" \\" for row in rows]
    return "\n".join(
        [r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule", *body, r"\bottomrule", r"\end{tabular}"]
    )


def table_problem(result: dict[str, Any]) -> str | None:
    """Why a (well-formed) result cannot enter the table: an unknown task or a column value that is not a number."""
    from probekit.tasks import TASKS

    task = result["task"]
    if task not in TASKS:
        return f"has task {task!r}, not one of {', '.join(TASKS)}"
    for where in ("metrics", "trivial_baseline"):
        values = result.get(where) or {}
        for column in _columns(task):
            value = values.get(column.key)
            if value is not None and not _is_number(value):
                return f"has {where}.{column.key} = {repr(value)[:40]}, not a finite number"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_table_results(directory: Path) -> tuple[list[dict[str, Any]], list[tuple[Path, str]]]:
    """The results that can enter the table, and the results files that cannot (file, why), each logged."""
    scan = scan_results(directory)
    results, problems = [], list(scan.unreadable)
    for result in scan.results:
        problem = table_problem(result)
        if problem:
            problems.append((Path(result["_path"]), problem))
        else:
            results.append(result)
    for path, problem in sorted(problems):
        log.warning("warning: %s %s; it is left out of the table", path, problem)
    if problems and not results:
        first, why = problems[0]
        raise ProbekitError(
            f"no readable probekit results in {directory}: {len(problems)} results file(s) could not "
            f"be read (e.g. {first.name} {why}); re-run `probekit probe ... --out {directory}`"
        )
    return results, sorted(problems)


def footnote(problems: list[tuple[Path, str]]) -> str:
    """One line under the table naming the results files left out, so a missing row is never a silent one."""
    listed = "; ".join(f"{path.name} {why}" for path, why in problems)
    return f"{len(problems)} results file(s) could not be read and are not in the table: {listed}"


def write_tables(directory: str | Path, group_by: str = "backbone", published: bool = False) -> tuple[str, list[Path]]:
    """Markdown of the table for `directory` (with footnotes naming unreadable results files and runs that
    share a cell), and the .md/.csv/.tex files written next to the JSONs (table_values.csv: the shown cells'
    numbers, unrounded, one row each). `published`: paper rows and their
    references too (probekit/report/published.py); when no run matches a published number, one line says so."""
    directory = Path(directory)
    results, problems = read_table_results(directory)
    collisions: list[str] = []
    flagged: list[str] = []
    paper: list[str] | None = [] if published else None
    notes: list[str] = []
    values: list[dict[str, Any]] = []
    header, rows = build_table(results, group_by, collisions, flagged, paper=paper, notes=notes, values=values)
    if not rows:
        return "", []
    if paper == []:
        log.warning(no_match_line())
    for line in collisions + flagged:
        log.warning("warning: %s", line)
    notes = (
        ([footnote(problems)] if problems else [])
        + [f"* {line}" for line in collisions]
        + [f"! {line}" for line in flagged]
        + notes
        + (paper or [])  # the numbered references last
    )
    markdown = to_markdown(header, rows) + "".join(f"\n\n{note}" for note in notes)
    outputs = {
        "table.md": markdown + "\n",
        "table.csv": to_csv(header, rows),
        "table_values.csv": values_csv(group_by, values),
        "table.tex": to_latex(header, rows) + "\n",
    }
    paths = []
    for name, text in outputs.items():
        paths.append(atomic_write_text(directory / name, text))
    return markdown, paths
