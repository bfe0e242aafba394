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
from probekit.report.results import scan_results

log = logging.getLogger(__name__)

# Columns per task, in order: (metric key, header, higher is better). Percentages for fractions.
COLUMNS: dict[str, list[tuple[str, str, bool]]] = {
    "classification": [("top1", "cls top-1", True), ("mean_per_class_recall", "cls mean-recall", True)],
    "segmentation": [("mIoU", "seg mIoU", True), ("pixel_accuracy", "seg pix-acc", True)],
    "depth": [("d1", "depth δ1", True), ("abs_rel", "depth AbsRel", False), ("rmse", "depth RMSE", False)],
    "correspondence": [("pck_image@0.1", "corr PCK@0.1", True)],  # per image (mean over pairs)
}
PERCENT = {"top1", "mean_per_class_recall", "mIoU", "pixel_accuracy", "d1", "pck_image@0.1"}


def build_table(results: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows; the newest run wins when a (backbone, task) pair appears twice."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for result in sorted(results, key=lambda r: r.get("created", "")):
        latest[(result["label"], result["task"])] = result
    tasks = [t for t in COLUMNS if any(task == t for _, task in latest)]
    columns = [(t, key, header) for t in tasks for key, header, _ in COLUMNS[t]]
    labels = sorted({label for label, _ in latest}, key=_row_order)
    rows = [_trivial_row(latest, columns)] if any(r.get("trivial_baseline") for r in latest.values()) else []
    for label in labels:
        row = [label]
        for task, key, _ in columns:
            value = latest.get((label, task), {}).get("metrics", {}).get(key)
            row.append(_format(key, value))
        rows.append(row)
    return ["backbone"] + [header for _, _, header in columns], rows


# What each task's no-features baseline predicts (segmentation's is the majority class per pixel).
TRIVIAL_NAMES = {"classification": "majority class", "depth": "mean depth", "correspondence": "identity map"}


def _trivial_row(latest: dict[tuple[str, str], dict[str, Any]], columns) -> list[str]:
    """The trivial predictors of each task (same for every backbone on the same data): the floor to beat."""
    by_task: dict[str, dict[str, Any]] = {}
    for (_, task), result in latest.items():
        by_task[task] = by_task.get(task) or result.get("trivial_baseline") or {}
    tasks = dict.fromkeys(task for task, _, _ in columns)
    names = [TRIVIAL_NAMES[t] for t in tasks if t in TRIVIAL_NAMES] or ["majority class"]
    return [f"no features ({' / '.join(names)})"] + [_format(key, by_task.get(task, {}).get(key)) for task, key, _ in columns]


def _row_order(label: str) -> tuple[int, str]:
    """Baselines first (pixels, then random init), then the pretrained encoders."""
    return (0 if label.startswith("pixels") else 1 if "random init" in label else 2, label)


def _format(key: str, value: Any) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}" if key in PERCENT else f"{value:.3f}"


def to_markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    return buffer.getvalue()


def to_latex(header: list[str], rows: list[list[str]]) -> str:
    escape = lambda s: s.replace("_", r"\_").replace("%", r"\%").replace("δ", r"$\delta$")  # noqa: E731
    body = [" & ".join(escape(c) for c in header) + r" \\", r"\midrule"]
    body += [" & ".join(escape(c) for c in row) + r" \\" for row in rows]
    return "\n".join([r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule", *body, r"\bottomrule",
                      r"\end{tabular}"])


def table_problem(result: dict[str, Any]) -> str | None:
    """Why a (well-formed) result cannot enter the table: an unknown task or a column value that is not a number."""
    task = result["task"]
    if task not in COLUMNS:
        return f"has task {task!r}, not one of {', '.join(COLUMNS)}"
    for where in ("metrics", "trivial_baseline"):
        values = result.get(where) or {}
        for key, _, _ in COLUMNS[task]:
            value = values.get(key)
            if value is not None and not _is_number(value):
                return f"has {where}.{key} = {repr(value)[:40]}, not a finite number"
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
        raise ProbekitError(f"no readable probekit results in {directory}: {len(problems)} results file(s) could not "
                            f"be read (e.g. {first.name} {why}); re-run `probekit probe ... --out {directory}`")
    return results, sorted(problems)


def footnote(problems: list[tuple[Path, str]]) -> str:
    """One line under the table naming the results files left out, so a missing row is never a silent one."""
    listed = "; ".join(f"{path.name} {why}" for path, why in problems)
    return f"{len(problems)} results file(s) could not be read and are not in the table: {listed}"


def write_tables(directory: str | Path) -> tuple[str, list[Path]]:
    """Markdown of the table for `directory` (with a footnote naming unreadable results files), and the
    .md/.csv/.tex files written next to the JSONs."""
    directory = Path(directory)
    results, problems = read_table_results(directory)
    header, rows = build_table(results)
    if not rows:
        return "", []
    markdown = to_markdown(header, rows) + (f"\n\n{footnote(problems)}" if problems else "")
    outputs = {"table.md": markdown + "\n", "table.csv": to_csv(header, rows),
               "table.tex": to_latex(header, rows) + "\n"}
    paths = []
    for name, text in outputs.items():
        paths.append(atomic_write_text(directory / name, text))
    return markdown, paths
