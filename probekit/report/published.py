"""Paper numbers beside ours: the published results of probekit/references/published.yaml, checked on load, and
which of them a results JSON is comparable to (`probekit table --published`).

An entry is one published number: model (a probekit backbone alias), task, dataset (the probekit datasets whose
evaluation split is the paper's), protocol (PROTOCOLS), metric (a key of the task's metrics, in probekit's units),
value and source. A result is compared with an entry when it ran the entry's alias with the hub's weights (random
init and local weights never match), on one of its datasets, and its settings map to the entry's protocol
(`result_protocol`, one rule per task). Nothing of this is written to the results JSON. docs/published.md lists
every entry (tools/gen_published_docs.py writes it from the YAML).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from probekit.errors import ProbekitError
from probekit.registry import Registry
from probekit.yamlfile import read_yaml

PUBLISHED_PATH = Path(__file__).resolve().parent.parent / "references" / "published.yaml"  # package data
KEYS = ("model", "task", "dataset", "protocol", "metric", "value", "source")
OPTIONAL = ("note",)

# Protocol name -> (the tasks it applies to, what it means: the published setup and the probekit settings it maps to).
PROTOCOLS: dict[str, tuple[tuple[str, ...], str]] = {
    "linear": (
        ("classification",),
        "DINOv2's linear evaluation on frozen global features (paper section 7.1, appendix B.3): any "
        "classification run",
    ),
    "knn": (("knn",), "DINOv2's k-NN classifier on the CLS token (paper table 4): any knn run"),
    "lin.": (
        ("segmentation",),
        "DINOv2 'lin.': a linear layer on the last layer's patch tokens (paper section 7.4): a segmentation run "
        "on one layer with --protocol lin",
    ),
    "+ms": (
        ("segmentation",),
        "DINOv2 '+ms': the last 4 layers concatenated, multi-scale + flip test-time augmentation (paper section "
        "7.4): a segmentation run on 4 layers with --protocol ms over several scales",
    ),
    "lin.1": (
        ("depth",),
        "DINOv2 'lin. 1': linear bins head on the last layer (+ CLS) (paper section 7.4): a depth run on one layer, "
        "not multi-scale",
    ),
    "lin.4": (
        ("depth",),
        "DINOv2 'lin. 4': the same head on 4 layers concatenated (paper section 7.4): a depth run on 4 layers, "
        "not multi-scale",
    ),
    "dpt": (
        ("depth",),
        "DINOv2 'DPT': a DPT decoder on the frozen backbone (paper section 7.4): a depth run with a dpt head",
    ),
    "probe3d": (
        ("depth", "correspondence"),
        "Probe3D (El Banani et al. 2024): depth with its multiscale DPT-like probe (a depth run with a dpt head and "
        "--preset probe3d-depth); zero-shot SPair keypoint recall@0.1 with error < 0.1 x the box (a zero-shot "
        "correspondence run on the last layer with --pck-comparison '<', bbox reference, arg-max matching)",
    ),
    "zero-shot": (
        ("correspondence",),
        "nearest-neighbour matching of frozen features, nothing trained: any other zero-shot correspondence run",
    ),
}


@dataclass(frozen=True)
class Entry:
    """One published number, in probekit's units (fractions for percent metrics, metres for RMSE)."""

    model: str
    task: str
    datasets: tuple[str, ...]
    protocol: str
    metric: str
    value: float
    source: str
    note: str = ""

    def describe(self) -> str:
        """How a message names the entry."""
        return f"{self.model} {self.task} {'/'.join(self.datasets)} {self.protocol} {self.metric}"


def _settings(result: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The run's `probe.settings` and `probe.options` (empty when absent)."""
    probe = result.get("probe") or {}
    return probe.get("settings") or {}, probe.get("options") or {}


def _layer_count(settings: Mapping[str, Any]) -> int:
    layers = settings.get("layers")
    return len(layers) if isinstance(layers, list) else 1


def _multiscale(settings: Mapping[str, Any], options: Mapping[str, Any]) -> bool:
    """Test-time averaging over several scales (--protocol ms with more than one scale); flip alone is not."""
    return settings.get("protocol") == "ms" and len(options.get("ms_scales") or ()) > 1


def _classification(result: Mapping[str, Any]) -> str | None:
    return "linear"


def _knn(result: Mapping[str, Any]) -> str | None:
    return "knn"


def _segmentation(result: Mapping[str, Any]) -> str | None:
    settings, options = _settings(result)
    if _multiscale(settings, options):
        return "+ms" if _layer_count(settings) == 4 else None
    return "lin." if settings.get("protocol", "lin") == "lin" and _layer_count(settings) == 1 else None


def _depth(result: Mapping[str, Any]) -> str | None:
    settings, options = _settings(result)
    if settings.get("head") == "dpt":
        return "probe3d" if (result.get("probe") or {}).get("preset") == "probe3d-depth" else "dpt"
    if _multiscale(settings, options):
        return None
    return {1: "lin.1", 4: "lin.4"}.get(_layer_count(settings))


def _correspondence(result: Mapping[str, Any]) -> str | None:
    settings, _ = _settings(result)
    if settings.get("mode") != "zero-shot":
        return None
    depth = (result.get("backbone") or {}).get("depth")
    last = isinstance(depth, int) and settings.get("layers") == [depth - 1]
    probe3d = (
        settings.get("comparison") == "<"
        and settings.get("pck_reference") == "bbox"
        and not settings.get("soft_argmax")
    )
    return "probe3d" if last and probe3d else "zero-shot"


# Task -> the published protocol a result's settings amount to (None: none that papers report).
PROTOCOL_RULES: Registry[Callable[[Mapping[str, Any]], str | None]] = Registry("published protocol rule", ProbekitError)
for _task, _rule in (
    ("classification", _classification),
    ("knn", _knn),
    ("segmentation", _segmentation),
    ("depth", _depth),
    ("correspondence", _correspondence),
):
    PROTOCOL_RULES.register(_task, _rule)


def result_protocol(result: Mapping[str, Any]) -> str | None:
    """The PROTOCOLS name a result's settings amount to; None for tasks or settings no paper here reports, and
    for few-shot runs (`--shots`: the papers train on every sample)."""
    task = str(result.get("task"))
    if result.get("few_shot"):
        return None
    return PROTOCOL_RULES.get(task)(result) if task in PROTOCOL_RULES else None


def published_model(result: Mapping[str, Any]) -> str | None:
    """The alias a result ran with the hub's weights (what papers publish); None for random init, local weights
    or pixels, which no paper number describes."""
    backbone = result.get("backbone") or {}
    name, source = backbone.get("backbone"), str(backbone.get("weights_source") or "")
    return str(name) if name and source.startswith("hub:") and result.get("label") == name else None


def matching_entries(result: Mapping[str, Any], entries: list[Entry]) -> list[Entry]:
    """The entries a result is comparable to: same alias (hub weights), task, dataset and protocol."""
    model, protocol = published_model(result), result_protocol(result)
    if model is None or protocol is None:
        return []
    dataset = str((result.get("dataset") or {}).get("dataset"))
    return [
        e
        for e in entries
        if e.model == model and e.task == result.get("task") and dataset in e.datasets and e.protocol == protocol
    ]


# -- loading and checking the YAML ---------------------------------------------------------------


@cache
def load_published(path: Path = PUBLISHED_PATH) -> list[Entry]:
    """Every entry of `path`, each checked; a bad entry is one line naming its number, its fields and the fix."""
    data = read_yaml(path, "published results file")
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list) or set(data) != {"entries"}:
        raise ProbekitError(f"{path}: write a mapping with one key, entries: a list of {{{', '.join(KEYS)}}}")
    entries = [_entry(path, number, raw) for number, raw in enumerate(data["entries"], start=1)]
    seen: dict[tuple[str, str, str, str, str], int] = {}
    for number, e in enumerate(entries, start=1):
        for dataset in e.datasets:
            key = (e.model, e.task, dataset, e.protocol, e.metric)
            if key in seen:
                raise ProbekitError(
                    f"{path}: entry {number} ({e.describe()}) repeats entry {seen[key]} for {dataset}: keep one"
                )
            seen[key] = number
    return entries


def _entry(path: Path, number: int, raw: Any) -> Entry:
    """One entry, checked against the backbones, tasks, datasets, protocols and metrics probekit knows."""
    where = f"{path}: entry {number}"
    if not isinstance(raw, dict):
        raise ProbekitError(f"{where}: write a mapping with {', '.join(KEYS)}, not {raw!r}")
    where += f" ({' '.join(str(raw.get(k, '?')) for k in ('model', 'task', 'dataset', 'protocol', 'metric'))})"
    if missing := [k for k in KEYS if raw.get(k) in (None, "")]:
        raise ProbekitError(f"{where}: missing {', '.join(missing)}; every entry needs {', '.join(KEYS)}")
    if unknown := sorted(set(map(str, raw)) - set(KEYS) - set(OPTIONAL)):
        raise ProbekitError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(KEYS + OPTIONAL)}")
    datasets = tuple(map(str, raw["dataset"])) if isinstance(raw["dataset"], list) else (str(raw["dataset"]),)
    entry = Entry(
        model=str(raw["model"]),
        task=str(raw["task"]),
        datasets=datasets,
        protocol=str(raw["protocol"]),
        metric=str(raw["metric"]),
        value=_number(where, raw["value"]),
        source=str(raw["source"]).strip(),
        note=str(raw.get("note") or "").strip(),
    )
    if problem := _problem(entry):
        raise ProbekitError(f"{where}: {problem}")
    return entry


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProbekitError(f"{where}: value {value!r} is not a finite number")
    return float(value)


def _problem(entry: Entry) -> str | None:
    """What is wrong with an entry, if anything: a name probekit does not know, a protocol of another task, a
    metric the task does not report, a percent metric written in percent."""
    from probekit.backbones import BACKBONES
    from probekit.data.registry import dataset_entries
    from probekit.tasks import TASKS

    known_datasets = {name for name, _ in dataset_entries()}
    if entry.model not in BACKBONES:
        return f"model {entry.model!r} is not a probekit backbone alias (`probekit backbones` lists them)"
    if entry.task not in TASKS:
        return f"task {entry.task!r} is not one of {', '.join(TASKS)}"
    if unknown := [d for d in entry.datasets if d not in known_datasets]:
        return f"dataset {', '.join(unknown)} is not a probekit dataset (`probekit datasets` lists them)"
    if entry.protocol not in PROTOCOLS:
        return f"protocol {entry.protocol!r} is not one of {', '.join(PROTOCOLS)} (docs/published.md)"
    if entry.task not in PROTOCOLS[entry.protocol][0]:
        return f"protocol {entry.protocol!r} is for {', '.join(PROTOCOLS[entry.protocol][0])}, not {entry.task}"
    task = TASKS.get(entry.task)
    keys = [c.key for c in task.columns] + [k for k in task.main_metrics if k not in {c.key for c in task.columns}]
    if entry.metric not in keys:
        return f"metric {entry.metric!r} is not one the {entry.task} task reports: use one of {', '.join(keys)}"
    if is_fraction(entry.task, entry.metric) and not 0 <= entry.value <= 1:
        fraction = entry.value / 100
        return (
            f"value {entry.value:g} is a percentage: probekit stores {entry.metric} as a fraction, write {fraction:g}"
        )
    return None


def is_fraction(task: str, metric: str) -> bool:
    """Whether probekit stores `metric` as a fraction (tables print it in percent): a percent column, or a main
    metric of a task whose columns are all percent (correspondence's point-level PCK)."""
    from probekit.tasks import TASKS

    columns = TASKS.get(task).columns
    shown = [c.percent for c in columns if c.key == metric]
    return shown[0] if shown else all(c.percent for c in columns)


# -- the table's paper rows -----------------------------------------------------------------------


@dataclass
class Citations:
    """The paper rows' reference list: each (source, note, dataset caveat) numbered once, in order of use, and
    lines for matched metrics the table has no column for."""

    numbers: dict[str, int] = field(default_factory=dict)
    other: list[str] = field(default_factory=list)

    def cite(self, entry: Entry, dataset: str) -> int:
        paper_data = entry.datasets[0]
        caveat = "" if dataset == paper_data else f" (the paper's data: {paper_data}; this run's: {dataset})"
        text = entry.source + (f"; {entry.note}" if entry.note else "") + caveat
        return self.numbers.setdefault(text, len(self.numbers) + 1)

    def lines(self) -> list[str]:
        """The footnote lines under the table: metrics beside the columns, then the numbered sources."""
        return self.other + [f"[{n}] {text}" for text, n in self.numbers.items()]


Formatter = Callable[[Any, Any], str]  # (column, value) -> the cell text, as the table prints our numbers


def paper_rows(
    label: str,
    latest: Mapping[tuple[str, str, tuple[str, ...]], Mapping[str, Any]],
    columns: list[tuple[str, tuple[str, ...], Any]],
    citations: Citations,
    fmt: Formatter,
    entries: list[Entry] | None = None,
) -> list[list[str]]:
    """The 'paper' row under our row `label` (each cell the published number its run matches) and the
    'ours - paper' row; none when no run of the row matches an entry."""
    entries = load_published() if entries is None else entries
    paper, delta, cited = [f"{label}: paper"], [f"{label}: ours - paper"], []
    for task, group, column in columns:
        result = latest.get((label, task, group))
        found = [e for e in matching_entries(result, entries) if e.metric == column.key] if result else []
        if not found or result is None:
            paper.append("–")
            delta.append("–")
            continue
        entry, ours = found[0], (result.get("metrics") or {}).get(column.key)
        cited.append(citations.cite(entry, str((result.get("dataset") or {}).get("dataset"))))
        paper.append(fmt(column, entry.value))
        delta.append(_difference(column.percent, ours, entry.value))
    _other_metrics(label, latest, columns, citations, entries)
    if not cited:
        return []
    paper[0] += " [" + ", ".join(map(str, sorted(set(cited)))) + "]"
    return [paper, delta]


def _other_metrics(
    label: str,
    latest: Mapping[tuple[str, str, tuple[str, ...]], Mapping[str, Any]],
    columns: list[tuple[str, tuple[str, ...], Any]],
    citations: Citations,
    entries: list[Entry],
) -> None:
    """Matched entries whose metric is no column of the table (Probe3D's point-level SPair recall): one footnote
    line each, with our number of that metric and the difference."""
    for task, group in dict.fromkeys((t, g) for t, g, _ in columns):
        result = latest.get((label, task, group))
        shown = {c.key for t, _, c in columns if t == task}
        for entry in matching_entries(result, entries) if result else []:
            if entry.metric in shown or result is None:
                continue
            ours = (result.get("metrics") or {}).get(entry.metric)
            percent = is_fraction(task, entry.metric)
            number = citations.cite(entry, str((result.get("dataset") or {}).get("dataset")))
            citations.other.append(
                f"{label} / {task} {entry.metric} (no column here): paper {_plain(percent, entry.value)} [{number}], "
                f"ours {_plain(percent, ours)}, ours - paper {_difference(percent, ours, entry.value)}"
            )


def no_match_line() -> str:
    """What `--published` says when no run is comparable to a published number (not an error)."""
    return (
        "--published: no run here matches a published result (a backbone alias with the hub's weights, task, dataset "
        "and protocol must match; docs/published.md lists them)"
    )


def _plain(percent: bool, value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "–"
    return f"{100 * value:.1f}" if percent else f"{value:.3f}"


def _difference(percent: bool, ours: Any, paper: float) -> str:
    """Ours minus the paper's, signed, in the column's unit (percentage points for percent columns)."""
    if not isinstance(ours, (int, float)) or isinstance(ours, bool) or not math.isfinite(ours):
        return "–"
    return f"{100 * (ours - paper):+.1f}" if percent else f"{ours - paper:+.3f}"
