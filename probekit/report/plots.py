"""Plots from results JSONs alone: a metric against layer depth, image size, parameter count, or per backbone.

Each figure is one task and one metric, written as PNG and SVG with matplotlib's Agg backend (no display):
    layer       metric vs relative depth (layer + 1) / blocks, from each result's `layer_sweep`, one line per hue
    image_size  metric vs the stored image size (the short side, px), one line per hue
    params      metric vs parameter count (millions, log axis; from the backbone registry), one point per run
    backbone    one bar per run (its table identity), the task's trivial baseline as a dashed line
Error bars come from `metrics_ci` (bootstrap 95%) where a result has it, else from `metrics_std` (over seeds).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probekit.errors import ProbekitError
from probekit.report.table import GROUP_KEYS, identity, read_table_results
from probekit.tasks.results import file_safe

log = logging.getLogger(__name__)

KINDS = ("layer", "image_size", "params", "backbone")
HUES = ("backbone", "dataset", "image_size", "layers", "split")
X_LABELS = {
    "layer": "relative depth (layer + 1) / blocks",
    "image_size": "image size (short side, px)",
    "params": "parameters (millions)",
}
FIGURE_SIZE = (6.4, 4.0)  # inches; at DPI 100 a 640 x 400 px PNG
DPI = 100


@dataclass(frozen=True)
class Point:
    """One plotted value: where on x, the value, its error bar (low, high) or None, and its series."""

    x: float | str
    y: float
    err: tuple[float, float] | None
    series: str


@dataclass(frozen=True)
class Metric:
    """A metric of one task as plotted: its key, axis label and scale (100 for percent columns)."""

    task: str
    key: str
    label: str
    scale: float
    higher_is_better: bool | None  # None: not a table column, direction unknown


# -- choosing what to plot ---------------------------------------------------------------------


def task_metric(task: str, key: str | None, results: Sequence[dict[str, Any]]) -> Metric | None:
    """The metric `key` of `task` (default: its first table column), or None when its runs do not report it."""
    from probekit.tasks import TASKS

    columns = {c.key: c for c in TASKS.get(task).columns}
    key = key or next(iter(columns))
    if not any(key in (r.get("metrics") or {}) for r in results if r["task"] == task):
        return None
    column = columns.get(key)
    if column is None:
        return Metric(task, key, key, 1.0, None)
    unit = " (%)" if column.percent else ""
    return Metric(task, key, column.header + unit, 100.0 if column.percent else 1.0, column.higher_is_better)


def metrics_to_plot(results: Sequence[dict[str, Any]], y: str | None) -> list[Metric]:
    """One metric per task of the results: `y` where a task reports it; error when no task does."""
    from probekit.tasks import TASKS

    tasks = [t for t in TASKS if any(r["task"] == t for r in results)]
    chosen = [m for t in tasks if (m := task_metric(t, y, results)) is not None]
    if not chosen:
        known = sorted({k for r in results for k, v in (r.get("metrics") or {}).items() if _is_number(v)})
        raise ProbekitError(f"--y {y!r}: no result reports that metric; the results report {', '.join(known)}")
    return chosen


def default_kinds(results: Sequence[dict[str, Any]]) -> list[str]:
    """The figure set for what the results contain: bars always; layer and size plots only when they vary."""
    kinds = ["backbone"]
    if any(len(r.get("layer_sweep") or []) > 1 for r in results):
        kinds.insert(0, "layer")
    if len({_short_side(r) for r in results} - {None}) > 1:
        kinds.insert(len(kinds) - 1, "image_size")
    return kinds


# -- the points of each kind -------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


def _short_side(result: dict[str, Any]) -> int | None:
    size = (result.get("features") or {}).get("image_size")
    return int(min(size)) if isinstance(size, list) and size and all(_is_number(s) for s in size) else None


def error_bar(result: dict[str, Any], metric: Metric) -> tuple[float, float] | None:
    """(low, high) of the metric: the bootstrap interval, else mean ± std over seeds, else None."""
    value = _number((result.get("metrics") or {}).get(metric.key))
    ci = (result.get("metrics_ci") or {}).get(metric.key)
    if isinstance(ci, list) and len(ci) == 2 and all(_is_number(v) for v in ci):
        return float(ci[0]) * metric.scale, float(ci[1]) * metric.scale
    std = _number((result.get("metrics_std") or {}).get(metric.key))
    if std is not None and value is not None:
        return (value - std) * metric.scale, (value + std) * metric.scale
    return None


def latest_runs(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One run per identity (as in the table): the newest."""
    chosen: dict[tuple[str, ...], dict[str, Any]] = {}
    for result in sorted(results, key=lambda r: str(r.get("created", ""))):
        key = (result["task"], *identity(result).values())
        chosen[key] = result
    return list(chosen.values())


def series_name(result: dict[str, Any], hue: str) -> str:
    return identity(result)[hue]


def runs_of(results: Sequence[dict[str, Any]], metric: Metric) -> list[dict[str, Any]]:
    """The newest run of each identity of the metric's task that reports the metric as a number."""
    return [
        r
        for r in latest_runs(results)
        if r["task"] == metric.task and _is_number((r.get("metrics") or {}).get(metric.key))
    ]


def layer_points(results: Sequence[dict[str, Any]], metric: Metric, hue: str) -> list[Point]:
    """Per run with a layer sweep, the metric of each layer's head at its relative depth."""
    points = []
    for result in [r for r in latest_runs(results) if r["task"] == metric.task]:
        for entry in result.get("layer_sweep") or []:
            value = _number((entry.get("metrics") or {}).get(metric.key))
            if value is not None and _is_number(entry.get("relative_depth")):
                points.append(
                    Point(float(entry["relative_depth"]), value * metric.scale, None, series_name(result, hue))
                )
    return points


def size_points(results: Sequence[dict[str, Any]], metric: Metric, hue: str) -> list[Point]:
    points = []
    for result in runs_of(results, metric):
        side = _short_side(result)
        if side is not None:
            value = result["metrics"][metric.key] * metric.scale
            points.append(Point(float(side), value, error_bar(result, metric), series_name(result, hue)))
    return points


@functools.cache
def parameter_count(backbone: str) -> float | None:
    """Millions of parameters of a registered backbone (built on the meta device: no memory, no weights)."""
    import torch

    from probekit.backbones.build import build_backbone
    from probekit.backbones.spec import BACKBONES

    if backbone not in BACKBONES:
        return None
    with torch.device("meta"):
        model = build_backbone(backbone, random_init=True)
    count = sum(p.numel() for p in model.parameters()) / 1e6
    return count if count > 0 else None


def params_points(results: Sequence[dict[str, Any]], metric: Metric, hue: str) -> list[Point]:
    points, unknown = [], set()
    for result in runs_of(results, metric):
        backbone = result.get("backbone")
        name = str(backbone.get("backbone", "")) if isinstance(backbone, dict) else ""
        count = parameter_count(name)
        if count is None:
            unknown.add(name or "?")
            continue
        value = result["metrics"][metric.key] * metric.scale
        points.append(Point(count, value, error_bar(result, metric), series_name(result, hue)))
    if unknown:
        log.info("params plot: %s left out (no registered parameters: pixel baselines, hub models)", sorted(unknown))
    return points


def bar_points(results: Sequence[dict[str, Any]], metric: Metric) -> list[Point]:
    """One bar per run: its backbone label, plus the identity keys that vary among the task's runs."""
    runs = runs_of(results, metric)
    ids = [identity(r) for r in runs]
    varying = [k for k in GROUP_KEYS[1:] if _varies_within_a_backbone(k, ids)]
    points = []
    for result, ident in zip(runs, ids, strict=True):
        name = ident["backbone"] + "".join(f"\n{k}={ident[k]}" for k in varying)
        points.append(Point(name, result["metrics"][metric.key] * metric.scale, error_bar(result, metric), name))
    return sorted(points, key=lambda p: _bar_order(str(p.x)))


def _varies_within_a_backbone(key: str, ids: Sequence[dict[str, str]]) -> bool:
    """True when one backbone has runs that differ in `key` (as the table's columns; each backbone's own last
    layer does not count)."""
    seen: dict[str, set[str]] = {}
    for ident in ids:
        seen.setdefault(ident["backbone"], set()).add(ident[key])
    return any(len(values) > 1 for values in seen.values())


def _bar_order(label: str) -> tuple[int, str]:
    """Baselines first, as in the table: pixels, then random init, then the pretrained encoders."""
    return (0 if label.startswith("pixels") else 1 if "random init" in label else 2, label)


def trivial_value(results: Sequence[dict[str, Any]], metric: Metric) -> tuple[str, float] | None:
    """The task's trivial baseline (name, value) from the newest run that carries one."""
    for result in reversed(sorted(runs_of(results, metric), key=lambda r: str(r.get("created", "")))):
        trivial = result.get("trivial_baseline") or {}
        if _is_number(trivial.get(metric.key)):
            return str(trivial.get("predictor", "trivial baseline")), trivial[metric.key] * metric.scale
    return None


# -- drawing -----------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def draw(kind: str, results: Sequence[dict[str, Any]], metric: Metric, hue: str) -> Any | None:
    """The matplotlib figure of one kind for one metric, or None when the results hold no points for it."""
    plt = _pyplot()
    if kind == "backbone":
        points = bar_points(results, metric)
    else:
        points = {"layer": layer_points, "image_size": size_points, "params": params_points}[kind](results, metric, hue)
    if not points:
        return None
    figure, axes = plt.subplots(figsize=FIGURE_SIZE, dpi=DPI)
    if kind == "backbone":
        _draw_bars(axes, points, trivial_value(results, metric))
    else:
        _draw_lines(axes, points, kind, hue)
        axes.set_xlabel(X_LABELS[kind])
    axes.set_ylabel(metric.label + (", lower is better" if metric.higher_is_better is False else ""))
    axes.set_title(f"{metric.task}: {metric.label}")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    return figure


def _yerr(points: Sequence[Point]) -> list[list[float]] | None:
    """matplotlib's (2, N) error bar lengths below and above, or None when no point has a bar."""
    if not any(p.err for p in points):
        return None
    return [
        [p.y - p.err[0] if p.err else 0.0 for p in points],
        [p.err[1] - p.y if p.err else 0.0 for p in points],
    ]


def _draw_bars(axes: Any, points: Sequence[Point], trivial: tuple[str, float] | None) -> None:
    positions = list(range(len(points)))
    axes.bar(positions, [p.y for p in points], yerr=_yerr(points), capsize=4, color="#4c78a8")
    axes.set_xticks(positions, [str(p.x) for p in points], rotation=20, ha="right", fontsize=8)
    if trivial is not None:
        axes.axhline(trivial[1], color="#d62728", linestyle="--", label=f"no features: {trivial[0]}")
        axes.legend(fontsize=8)


def _draw_lines(axes: Any, points: Sequence[Point], kind: str, hue: str) -> None:
    for series in dict.fromkeys(p.series for p in points):
        chosen = sorted((p for p in points if p.series == series), key=lambda p: float(p.x))
        xs = [float(p.x) for p in chosen]
        axes.errorbar(xs, [p.y for p in chosen], yerr=_yerr(chosen), marker="o", capsize=3, label=series)
    if kind == "params":
        axes.set_xscale("log")
    if kind == "layer":
        axes.set_xlim(0, 1.02)
    axes.legend(title=hue, fontsize=8)


# -- files -------------------------------------------------------------------------------------


def plot_results(
    results: Sequence[dict[str, Any]],
    out: Path,
    kinds: Sequence[str] | None = None,
    y: str | None = None,
    hue: str = "backbone",
) -> list[Path]:
    """Write PNG + SVG of every (kind, task) figure that has points; returns the PNG paths."""
    if hue not in HUES:
        raise ProbekitError(f"--hue {hue!r}: use one of {', '.join(HUES)}")
    for kind in kinds or ():
        if kind not in KINDS:
            raise ProbekitError(f"--x {kind!r}: use one of {', '.join(KINDS)}")
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for metric in metrics_to_plot(results, y):
        for kind in kinds or default_kinds(results):
            figure = draw(kind, results, metric, hue)
            if figure is None:
                log.info("no %s plot for %s %s: the results hold no such points", kind, metric.task, metric.key)
                continue
            stem = file_safe(f"{metric.task}-{metric.key}-by-{kind}")
            figure.savefig(out / f"{stem}.png")
            figure.savefig(out / f"{stem}.svg")
            plt.close(figure)
            written.append(out / f"{stem}.png")
    return written


def write_plots(
    directory: str | Path,
    out: str | Path | None = None,
    kinds: Sequence[str] | None = None,
    y: str | None = None,
    hue: str = "backbone",
) -> list[Path]:
    """The plots of the results JSONs in `directory`, into `out` (default: DIRECTORY/plots)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ProbekitError(f"{directory} is not a directory of results: run `probekit probe ... --out {directory}`")
    results, _ = read_table_results(directory)
    if not results:
        raise ProbekitError(f"no probekit results JSONs in {directory}: run `probekit probe ... --out {directory}`")
    paths = plot_results(results, Path(out) if out is not None else directory / "plots", kinds, y, hue)
    if not paths:
        raise ProbekitError(
            f"nothing to plot in {directory} for --x {','.join(kinds or [])}: "
            "layer plots need `probe --layers all` runs, size plots runs at several image sizes"
        )
    return paths
