"""Benchmark suites: several backbones x splits x tasks from one YAML file, ending in a comparison table.

    probekit benchmark configs/suites/quickstart.yaml

A suite extracts every (backbone, split) store it needs (reusing complete ones), runs every task's
probe on them (skipping runs whose results JSON exists), prints the table and writes the plots (out/plots)
and the HTML report (out/report/index.html). Everything a suite does is also a plain `probekit extract` /
`probekit probe` / `probekit table` / `probekit plot` / `probekit report` call.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from probekit.errors import ProbekitError

log = logging.getLogger("probekit.benchmark")
BASELINES = ("pixels", "random_init")  # what every suite gets unless `baselines: none` (or a shorter list)


@dataclass(frozen=True)
class Suite:
    """A benchmark suite as written in configs/suites/*.yaml."""

    name: str
    backbones: list[dict[str, Any]]  # each: backbone, and optionally random_init / weights / seed
    tasks: dict[str, dict[str, Any]]  # task -> probe options (epochs, lrs, ...; may set dataset, root, splits)
    dataset: str = "synthetic"
    root: str | None = None
    splits: dict[str, int | None] = field(default_factory=lambda: {"train": None, "val": None})  # split -> limit
    image_size: int | list[int] = 224
    image_sizes: list[int | list[int]] | None = None  # a store per size, each probed (instead of image_size)
    layers: str = "last4"  # extract --layers; 'all' also sweeps every stored layer (probe --sweep-layers all)
    baselines: str | list[str] = field(default_factory=lambda: list(BASELINES))  # added runs, or 'none'
    batch_size: int = 32
    workers: int | None = None
    out: str = "runs/benchmark"
    seeds: list[int] | None = None  # every probe runs once per seed (a task's own `seeds:` wins)

    @classmethod
    def load(cls, path: str | Path) -> Suite:
        """The suite in `path`, its keys and value types checked: every problem is one line naming the file."""
        from probekit.yamlfile import read_yaml

        path = Path(path)
        if not path.is_file():
            raise ProbekitError(f"suite file {path} does not exist (see configs/suites/)")
        data = read_yaml(path, "suite file")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ProbekitError(
                f"{path}: a suite is a mapping (name:, backbones:, tasks:, ...), not a {type(data).__name__}"
            )
        known = sorted(f.name for f in fields(cls))
        if unknown := sorted(set(map(str, data)) - set(known)):
            raise ProbekitError(f"{path}: unknown suite keys {', '.join(unknown)}; allowed keys: {', '.join(known)}")
        if missing := [key for key in ("name", "backbones", "tasks") if key not in data]:
            raise ProbekitError(
                f"{path}: missing {', '.join(missing)}: a suite needs name, backbones and tasks (see configs/suites/)"
            )
        try:
            check_suite(data)
        except ProbekitError as error:
            raise ProbekitError(f"{path}: {error}") from None
        return cls(**data)


BACKBONE_KEYS = ("backbone", "random_init", "weights", "seed", "layers")


def _is_int(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _check_splits(where: str, splits: Any) -> None:
    """splits: {name: limit}, limit a positive sample count or null (all), train among them."""
    if not isinstance(splits, dict) or "train" not in splits:
        raise ProbekitError(
            f"{where} must be a mapping of split -> sample limit that includes train, e.g. "
            f"{{train: 256, val: 128}}; got {splits!r}"
        )
    for split, limit in splits.items():
        if limit is not None and not _is_int(limit, 1):
            raise ProbekitError(f"{where}: {split}: {limit!r} is not a positive number of samples (or null for all)")


def _check_backbones(backbones: Any) -> None:
    if not isinstance(backbones, list) or not backbones:
        raise ProbekitError(
            f"backbones must be a list like [{{backbone: vit-s16, random_init: true}}], got {backbones!r}"
        )
    for entry in backbones:
        if not isinstance(entry, dict) or not isinstance(entry.get("backbone"), str):
            raise ProbekitError(
                f"backbones: {entry!r} must be a mapping with a backbone name, e.g. {{backbone: {entry}}}"
            )
        if unknown := sorted(set(map(str, entry)) - set(BACKBONE_KEYS)):
            raise ProbekitError(
                f"backbones: {entry['backbone']}: unknown keys {', '.join(unknown)}; "
                f"allowed: {', '.join(BACKBONE_KEYS)}"
            )
        if not isinstance(entry.get("random_init", False), bool) or not _is_int(entry.get("seed", 0), 0):
            raise ProbekitError(
                f"backbones: {entry['backbone']}: random_init must be true/false and seed an integer >= 0"
            )


def _check_tasks(tasks: Any) -> None:
    from probekit.tasks import TASKS

    if not isinstance(tasks, dict) or not tasks:
        raise ProbekitError(
            f"tasks must be a mapping of task -> probe options, e.g. {{classification: {{epochs: 10}}}}; got {tasks!r}"
        )
    for task, options in tasks.items():
        TASKS.get(task)  # unknown task names: one line with the known ones
        if options is not None and not isinstance(options, dict):
            raise ProbekitError(
                f"tasks: {task}: options must be a mapping (e.g. {{epochs: 10}}) or empty, not {options!r}"
            )
        if options and "splits" in options:
            _check_splits(f"tasks: {task}: splits", options["splits"])
        if options and options.get("root") is not None and not isinstance(options["root"], str):
            raise ProbekitError(f"tasks: {task}: root must be a directory path, not {options['root']!r}")
        _check_task_options(task, options or {})


# a task's own data (dataset, its root, splits); `preset` names a preset; every other key is a task option
DATA_KEYS = ("dataset", "root", "splits")


def task_options(task: str, options: dict[str, Any] | None) -> Any:
    """The task's typed options from its suite mapping, through the same parse function as `probekit probe`."""
    from probekit.tasks import TASKS

    values = {k: v for k, v in (options or {}).items() if k not in (*DATA_KEYS, "preset")}
    try:
        if (preset := (options or {}).get("preset")) is not None:
            from probekit.tasks.presets import load_preset

            values = {**load_preset(str(preset)).options(task), **values}  # the task's own keys win
        return TASKS.get(task).parse_options(values)
    except ProbekitError as error:
        raise ProbekitError(f"tasks: {task}: {error}") from None


def _check_task_options(task: str, options: dict[str, Any]) -> None:
    """A task's options (names, values, training settings, grids), checked before any store is extracted."""
    task_options(task, options)


def with_seeds(options: dict[str, Any] | None, seeds: list[int] | None) -> dict[str, Any]:
    """A task's suite options with the suite's `seeds` forwarded, unless the task sets its own."""
    return {"seeds": seeds, **(options or {})} if seeds is not None else dict(options or {})


def _check_seeds(seeds: Any, tasks: dict[str, Any]) -> None:
    """seeds: a non-empty list of distinct integers >= 0, valid with every task's options."""
    if seeds is None:
        return
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s, 0) for s in seeds):
        raise ProbekitError(f"seeds must be a list of integers >= 0, e.g. [0, 1, 2], not {seeds!r}")
    for task, options in tasks.items():
        _check_task_options(task, with_seeds(options, seeds))


def check_suite(data: dict[str, Any]) -> None:
    """The value types of a suite's keys (the keys themselves are checked by Suite.load)."""
    if not isinstance(data["name"], str):
        raise ProbekitError(f"name must be a string, not {data['name']!r}")
    _check_backbones(data["backbones"])
    _check_tasks(data["tasks"])
    _check_seeds(data.get("seeds"), data["tasks"])
    _check_splits("splits", data.get("splits", {"train": None}))
    size = data.get("image_size", 224)
    if not _is_size(size):
        raise ProbekitError(f"image_size must be a positive integer or [height, width], not {size!r}")
    _check_image_sizes(data)
    baseline_kinds(data.get("baselines", list(BASELINES)))
    if not _is_int(data.get("batch_size", 1), 1):
        raise ProbekitError(f"batch_size must be a positive integer, not {data['batch_size']!r}")
    if data.get("workers") is not None and not _is_int(data["workers"], 0):
        raise ProbekitError(f"workers must be an integer >= 0 or null, not {data['workers']!r}")
    for key in ("dataset", "layers", "out"):
        if key in data and not isinstance(data[key], str):
            raise ProbekitError(f'{key} must be a string, not {data[key]!r} (quote it: {key}: "{data[key]}")')
    if data.get("root") is not None and not isinstance(data["root"], str):
        raise ProbekitError(f"root must be a directory path, not {data['root']!r}")


DataKey = tuple[str, str | None, tuple[tuple[str, int | None], ...]]  # (dataset, root, ((split, limit), ...))


def _tasks_by_data(suite: Suite) -> dict[DataKey, list[tuple[str, dict[str, Any]]]]:
    """Tasks grouped by the data they need: the suite's dataset, root and splits, unless a task names its own
    (`correspondence: {dataset: spair, root: data/SPair-71k, splits: {...}, ...}`), so each store is extracted
    once."""
    groups: dict[DataKey, list[tuple[str, dict[str, Any]]]] = {}
    for task, options in suite.tasks.items():
        options = dict(options or {})
        dataset = options.pop("dataset", suite.dataset)
        root = options.pop("root", suite.root)
        splits = options.pop("splits", suite.splits)
        if "train" not in splits:
            raise ProbekitError(f"suite task {task}: splits must include train")
        groups.setdefault((dataset, root, tuple(splits.items())), []).append(
            (task, sweep_options(suite, task, options))
        )
    return groups


def suite_outputs(tasks: list[tuple[str, dict[str, Any]]]) -> tuple[str, ...]:
    """The feature outputs a group of tasks reads (each task says, `required_outputs`), in store order: a
    classification-only suite extracts cls and mean, no patch grids."""
    from probekit.tasks import TASKS

    needed = {name for task, options in tasks for name in TASKS.get(task).required_outputs(task_options(task, options))}
    return tuple(name for name in ("cls", "mean", "patch") if name in needed)


def backbone_tag(entry: dict[str, Any]) -> str:
    """How a suite names a backbone's stores: the alias, plus `random<seed>` for random init or the first 8 hex
    digits of a weights file's SHA-256, so two initialisations never share (and reuse) a store."""
    name: str = entry["backbone"]
    if entry.get("random_init"):
        return f"{name}-random{int(entry.get('seed', 0))}"
    if entry.get("weights"):
        from probekit.backbones.weights import sha256_file

        weights = Path(entry["weights"])
        if not weights.is_file():
            raise ProbekitError(f"backbones: {name}: weights file {weights} does not exist")
        return f"{name}-{sha256_file(weights)[:8]}"
    return name


def _is_size(size: Any) -> bool:
    """A positive integer or [height, width]."""
    return _is_int(size, 1) or (isinstance(size, list) and len(size) == 2 and all(_is_int(s, 1) for s in size))


def _check_image_sizes(data: dict[str, Any]) -> None:
    """image_sizes: a non-empty list of distinct sizes, not beside image_size."""
    if (sizes := data.get("image_sizes")) is None:
        return
    if "image_size" in data:
        raise ProbekitError("image_size and image_sizes both set the size: keep image_sizes (a list) or image_size")
    if not isinstance(sizes, list) or not sizes or not all(_is_size(s) for s in sizes):
        raise ProbekitError(
            f"image_sizes must be a list of positive integers or [height, width] pairs, e.g. [96, 128]; not {sizes!r}"
        )
    if len({str(s) for s in sizes}) < len(sizes):
        raise ProbekitError(f"image_sizes {sizes!r} lists a size twice: list each size once")


def baseline_kinds(value: Any) -> tuple[str, ...]:
    """The suite's `baselines`: 'none', or a list of pixels / random_init (default: both)."""
    if value == "none" or value == []:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v in BASELINES for v in value):
        raise ProbekitError(
            f"baselines must be none or a list of {', '.join(BASELINES)}, e.g. [random_init]; not {value!r}"
        )
    return tuple(value)


def patch_size(name: str) -> int:
    """A backbone's patch size (its output stride), from its architecture built on the meta device (no weights)."""
    import torch

    from probekit.backbones.build import build_backbone

    try:
        with torch.device("meta"):
            return int(build_backbone(name, random_init=True).patch_size)
    except Exception as error:
        raise ProbekitError(
            f"backbones: {name}: its patch size (for the pixels baseline) is unknown ({error}); list pixels-pN "
            f"yourself and set baselines: [random_init]"
        ) from None


def is_encoder(entry: dict[str, Any]) -> bool:
    """A backbone entry that is neither a baseline (pixels) nor a random-init network."""
    from probekit.backbones.spec import resolve_spec

    return not entry.get("random_init") and resolve_spec(entry["backbone"]).builder != "pixels"


def suite_backbones(suite: Suite) -> list[dict[str, Any]]:
    """The suite's backbones with the baselines it asks for added (`baselines`): each encoder's random-init twin
    and the pixels baseline of each distinct patch size, unless the suite lists them already. Baselines first."""
    kinds = baseline_kinds(suite.baselines)
    listed = [dict(entry) for entry in suite.backbones]
    encoders = [entry for entry in listed if is_encoder(entry)]
    added: list[dict[str, Any]] = []
    if "pixels" in kinds:
        for size in sorted({patch_size(entry["backbone"]) for entry in encoders}):
            name = f"pixels-p{size}"
            if not any(entry["backbone"] == name for entry in listed):
                added.append({"backbone": name, "layers": "-1"})  # pixels have one 'layer'
    if "random_init" in kinds:
        for entry in encoders:
            twin = {"backbone": entry["backbone"], "random_init": True}
            twin |= {"layers": entry["layers"]} if "layers" in entry else {}
            twins = [e for e in listed + added if e["backbone"] == entry["backbone"] and e.get("random_init")]
            if not twins:
                added.append(twin)
    for entry in added:
        log.info("baseline added (suite key baselines): %s", backbone_tag(entry))
    return added + listed


def suite_sizes(suite: Suite) -> list[tuple[int, int]]:
    """(height, width) of every store size the suite extracts: `image_sizes`, else `image_size`."""
    sizes = suite.image_sizes if suite.image_sizes is not None else [suite.image_size]
    return [(s[0], s[1]) if isinstance(s, list) else (s, s) for s in sizes]


def sweep_options(suite: Suite, task: str, options: dict[str, Any]) -> dict[str, Any]:
    """A task's suite options, with `sweep_layers: all` added under `layers: all` for each task that trains heads
    (and chooses no layers of its own); other tasks keep their default layers."""
    from probekit.tasks import TASKS

    sweeps = getattr(TASKS.get(task).options_type, "sweeps", False)  # TrainedOptions.sweeps
    if suite.layers != "all" or not sweeps or {"layers", "sweep_layers"} & set(options):
        return options
    return {**options, "sweep_layers": "all"}


def run_suite(suite: Suite, out: str | Path | None = None, progress: bool = True) -> str:
    """Extract, probe, tabulate; returns the markdown table."""
    from probekit.features import ExtractConfig, extract
    from probekit.provenance import short_hash
    from probekit.report.table import write_tables
    from probekit.tasks import TASKS, run_probe
    from probekit.tasks.results import file_safe

    out = Path(out or suite.out)
    for task in suite.tasks:
        TASKS.get(task)  # unknown task names fail before any work
    for entry, (height, width) in itertools.product(suite_backbones(suite), suite_sizes(suite)):
        name = entry["backbone"]
        tag = backbone_tag(entry)
        for (dataset, root, splits), tasks in _tasks_by_data(suite).items():
            stores = {}
            outputs = suite_outputs(tasks)
            for split, limit in splits:
                config = ExtractConfig(
                    backbone=name,
                    random_init=bool(entry.get("random_init")),
                    weights=entry.get("weights"),
                    seed=int(entry.get("seed", 0)),
                    dataset=dataset,
                    root=root,
                    split=split,
                    image_size=(height, width),
                    layers=entry.get("layers", suite.layers),
                    batch_size=suite.batch_size,
                    workers=suite.workers,
                    limit=limit,
                    outputs=outputs,
                )
                log.info("extract %s / %s %s", tag, dataset, split)
                size_tag = "" if limit is None else f"-n{limit}"  # other split sizes get their own store
                outputs_tag = "" if set(outputs) == {"cls", "mean", "patch"} else "-" + "-".join(outputs)
                root_tag = "" if root == suite.root else f"-root{short_hash(root)[:8]}"  # a task's own root
                # 'hf:org/model' names no subfolder; other weights, seeds, sizes and outputs get their own store
                store = file_safe(f"{tag}-{dataset}{root_tag}-{split}-{height}x{width}{size_tag}{outputs_tag}")
                stores[split] = extract(config, out / "features" / f"{store}.h5", progress=progress)
            for task, options in tasks:
                log.info("probe %s / %s", tag, task)
                run_probe(
                    task,
                    stores["train"],
                    out / "results",
                    val=stores.get("val"),
                    test=stores.get("test"),
                    options=task_options(task, with_seeds(options, suite.seeds)),
                    progress=progress,
                    preset=options.get("preset"),
                )
    markdown, _ = write_tables(out / "results")
    if markdown:  # no results (nothing ran): no table, so no plots or report either
        write_suite_report(out, suite.name)
    return markdown


def write_suite_report(out: Path, name: str) -> tuple[Path, Path]:
    """The default plot set (out/plots) and the HTML report (out/report/index.html) of a suite's results."""
    from probekit.report.html import write_report
    from probekit.report.plots import plot_results
    from probekit.report.table import read_table_results

    plots = plot_results(read_table_results(out / "results")[0], out / "plots")  # none drawn is no error here
    page = write_report(out / "results", out / "report", plots=plots, title=f"probekit benchmark: {name}")
    log.info("plots in %s, report in %s", out / "plots", page)
    return out / "plots", page
