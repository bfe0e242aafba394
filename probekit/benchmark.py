"""Benchmark suites: several backbones x splits x tasks from one YAML file, ending in a comparison table.

    probekit benchmark configs/suites/quickstart.yaml

A suite extracts every (backbone, split) store it needs (reusing complete ones), runs every task's
probe on them (skipping runs whose results JSON exists) and prints the table. Everything a suite
does is also a plain `probekit extract` / `probekit probe` / `probekit table` call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from probekit.errors import ProbekitError

log = logging.getLogger("probekit.benchmark")


@dataclass(frozen=True)
class Suite:
    """A benchmark suite as written in configs/suites/*.yaml."""

    name: str
    backbones: list[dict[str, Any]]                 # each: backbone, and optionally random_init / weights / seed
    tasks: dict[str, dict[str, Any]]                # task -> probe options (epochs, lrs, ...; may set dataset, splits)
    dataset: str = "synthetic"
    root: str | None = None
    splits: dict[str, int | None] = field(default_factory=lambda: {"train": None, "val": None})  # split -> limit
    image_size: int | list[int] = 224
    layers: str = "last4"
    batch_size: int = 32
    workers: int | None = None
    out: str = "runs/benchmark"

    @classmethod
    def load(cls, path: str | Path) -> Suite:
        path = Path(path)
        if not path.is_file():
            raise ProbekitError(f"suite file {path} does not exist (see configs/suites/)")
        data = yaml.safe_load(path.read_text()) or {}
        known = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or set(data) - known or not {"name", "backbones", "tasks"} <= set(data):
            raise ProbekitError(f"{path}: a suite needs name, backbones and tasks; allowed keys: {', '.join(sorted(known))}")
        if "train" not in data.get("splits", {"train": None}):
            raise ProbekitError(f"{path}: splits must include train")
        return cls(**data)


def _tasks_by_data(suite: Suite) -> dict[tuple, list[tuple[str, dict[str, Any]]]]:
    """Tasks grouped by the data they need: the suite's dataset and splits, unless a task names its own
    (`correspondence: {dataset: synthetic-pairs, splits: {...}, ...}`), so each store is extracted once."""
    groups: dict[tuple, list[tuple[str, dict[str, Any]]]] = {}
    for task, options in suite.tasks.items():
        options = dict(options or {})
        dataset = options.pop("dataset", suite.dataset)
        splits = options.pop("splits", suite.splits)
        if "train" not in splits:
            raise ProbekitError(f"suite task {task}: splits must include train")
        groups.setdefault((dataset, tuple(splits.items())), []).append((task, options))
    return groups


def run_suite(suite: Suite, out: str | Path | None = None, progress: bool = True) -> str:
    """Extract, probe, tabulate; returns the markdown table."""
    from probekit.features import ExtractConfig, extract
    from probekit.probes.trainer import TrainConfig
    from probekit.report.results import file_safe
    from probekit.report.table import write_tables
    from probekit.tasks import TASKS, run_probe

    out = Path(out or suite.out)
    for task in suite.tasks:
        TASKS.get(task)  # unknown task names fail before any work
    size = suite.image_size if isinstance(suite.image_size, list) else [suite.image_size] * 2
    train_keys = {f.name for f in fields(TrainConfig)}
    for entry in suite.backbones:
        name = entry["backbone"]
        tag = name + ("-random" if entry.get("random_init") else "")
        for (dataset, splits), tasks in _tasks_by_data(suite).items():
            stores = {}
            for split, limit in splits:
                config = ExtractConfig(
                    backbone=name, random_init=bool(entry.get("random_init")), weights=entry.get("weights"),
                    seed=int(entry.get("seed", 0)), dataset=dataset, root=suite.root, split=split,
                    image_size=tuple(size), layers=entry.get("layers", suite.layers), batch_size=suite.batch_size,
                    workers=suite.workers, limit=limit,
                )
                log.info("extract %s / %s %s", tag, dataset, split)
                size_tag = "" if limit is None else f"-n{limit}"  # other split sizes get their own store
                store = file_safe(f"{tag}-{dataset}-{split}{size_tag}")  # 'hf:org/model' names no subfolder
                stores[split] = extract(config, out / "features" / f"{store}.h5",
                                        progress=progress)
            for task, options in tasks:
                train = TrainConfig(**{k: v for k, v in options.items() if k in train_keys})
                log.info("probe %s / %s", tag, task)
                run_probe(task, stores["train"], out / "results", val=stores.get("val"), test=stores.get("test"),
                          options={k: v for k, v in options.items() if k not in train_keys}, train_config=train,
                          progress=progress)
    markdown, _ = write_tables(out / "results")
    return markdown
