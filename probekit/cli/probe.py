"""`probekit probe`: a linear head on cached features, trained, selected on val and evaluated."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Annotated

import typer

from probekit.cli.common import (
    above,
    check_output,
    choice,
    device_option,
    fails_cleanly,
    float_list,
    in_range,
    int_list,
    setup_logging,
)
from probekit.errors import ProbekitError

# The command's own options; every other option is a task option, passed to the task's parse function by name.
OWN = {"ctx", "task", "features", "out", "val", "test", "device", "label_map", "overwrite", "quiet", "opt", "preset"}


def _given(ctx: typer.Context, name: str) -> bool:
    """True when option `name` was given on the command line (not its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in {"DEFAULT", "DEFAULT_MAP"}


def _help(name: str) -> str:
    """An option's help from the tasks' options fields: the shared text and each task's default where they
    differ, or the one task's (or tasks') own text."""
    from dataclasses import MISSING, fields

    from probekit.tasks import TASKS
    from probekit.tasks.base import TrainedOptions

    found = {task: f for task, runner in TASKS.items() for f in fields(runner.options_type) if f.name == name}
    if not found:
        raise KeyError(name)
    shared = {f.name: f for f in fields(TrainedOptions)}.get(name)
    if shared is None:
        helps = {task: str(f.metadata["help"]) for task, f in found.items()}
        if len(set(helps.values())) > 1:  # one name, different meanings: each task's own text
            return " ".join(f"{task.capitalize()}: {text}" for task, text in helps.items())
        return f"{', '.join(found).capitalize()}: {next(iter(helps.values()))}"
    defaults = {task: f.default for task, f in found.items() if f.default is not MISSING}
    if len({repr(v) for v in defaults.values()}) <= 1:
        return str(shared.metadata["help"])
    listed = "; ".join(f"{task} {_shown(value)}" for task, value in defaults.items())
    return f"{shared.metadata['help']} Default: {listed}."


def _shown(value: object) -> str:
    """A default as the command line writes it."""
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return "all/last stored" if value is None else str(value)


def task_values(ctx: typer.Context, given: dict[str, object]) -> dict[str, object]:
    """The task options the user set, by the task's option names (those left at their default stay out)."""
    return {name: value for name, value in given.items() if name not in OWN and _given(ctx, name)}


def _opt_values(opts: list[str] | None, flags: dict[str, object]) -> dict[str, object]:
    """--opt KEY=VALUE pairs: any task option, including those without a flag of their own (new tasks)."""
    values: dict[str, object] = {}
    for item in opts or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ProbekitError(f"--opt {item!r}: write KEY=VALUE, e.g. --opt n_bins=64")
        if key in flags or key in values:
            raise ProbekitError(f"--opt {item!r}: {key} is set twice")
        values[key] = value
    return values


def _check_n_blocks(features: Path, layers: tuple[int, ...] | None, n_blocks: tuple[int, ...]) -> None:
    """--n-blocks given explicitly may not ask for more blocks than the layers used (--layers, else all stored)."""
    from probekit.features.store import FeatureStore

    with FeatureStore(features) as store:
        used = list(layers) if layers else store.layers
        if max(n_blocks) > len(used):
            raise ProbekitError(
                f"--n-blocks {max(n_blocks)} needs {max(n_blocks)} layers but {features} gives "
                f"{len(used)} (layers {used}, stored {store.layers}): lower --n-blocks or re-extract with more --layers"
            )


@fails_cleanly
def probe_command(
    ctx: typer.Context,
    task: Annotated[
        str, typer.Option(help="classification | segmentation | depth | correspondence | multiview | knn | logreg")
    ],
    features: Annotated[Path, typer.Option(help="Training feature store (probekit extract).")],
    out: Annotated[Path, typer.Option(help="Directory for the results JSON and the head's weights.")] = Path(
        "runs/results"
    ),
    val: Annotated[
        Path | None,
        typer.Option(help="Validation store for the grid selection (default: every 10th training sample)."),
    ] = None,
    test: Annotated[
        Path | None, typer.Option(help="Test store for the final numbers (default: report on val).")
    ] = None,
    layers: Annotated[str | None, typer.Option(callback=int_list(), help=_help("layers"))] = None,
    sweep_layers: Annotated[str | None, typer.Option(help=_help("sweep_layers"))] = None,
    pooling: Annotated[str | None, typer.Option(help=_help("pooling"))] = None,
    n_blocks: Annotated[str | None, typer.Option(callback=int_list(low=1), help=_help("n_blocks"))] = None,
    lrs: Annotated[str | None, typer.Option(callback=float_list(0.0), help=_help("lrs"))] = None,
    weight_decays: Annotated[
        str | None, typer.Option(callback=float_list(0.0, low_open=False), help=_help("weight_decays"))
    ] = None,
    iters: Annotated[int | None, typer.Option(min=1, help=_help("iters"))] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help=_help("epochs"))] = None,
    warmup_iters: Annotated[int | None, typer.Option(min=0, help=_help("warmup_iters"))] = None,
    scheduler: Annotated[str | None, typer.Option(help=_help("scheduler"))] = None,
    eval_every: Annotated[int | None, typer.Option(min=1, help=_help("eval_every"))] = None,
    val_subset: Annotated[int | None, typer.Option(min=0, help=_help("val_subset"))] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help=_help("batch_size"))] = None,
    optimizer: Annotated[str | None, typer.Option(callback=choice("sgd", "adamw"), help=_help("optimizer"))] = None,
    early_stopping: Annotated[int | None, typer.Option(min=1, help=_help("early_stopping"))] = None,
    seed: Annotated[int | None, typer.Option(min=0, help=_help("seed"))] = None,
    seeds: Annotated[str | None, typer.Option(callback=int_list(low=0), help=_help("seeds"))] = None,
    device: Annotated[str, typer.Option(callback=device_option, help="'auto', 'cpu', 'cuda', ...")] = "auto",
    ignore_index: Annotated[int | None, typer.Option(help=_help("ignore_index"))] = None,
    num_classes: Annotated[int | None, typer.Option(min=2, help=_help("num_classes"))] = None,
    reduce_zero_label: Annotated[bool, typer.Option("--reduce-zero-label", help=_help("reduce_zero_label"))] = False,
    unknown_ids: Annotated[str | None, typer.Option(help=_help("unknown_ids"))] = None,
    head: Annotated[str | None, typer.Option(help=_help("head"))] = None,
    dpt_features: Annotated[int | None, typer.Option(min=1, help=_help("dpt_features"))] = None,
    prediction: Annotated[str | None, typer.Option(help=_help("prediction"))] = None,
    min_depth: Annotated[float | None, typer.Option(callback=in_range(0.0), help=_help("min_depth"))] = None,
    max_depth: Annotated[float | None, typer.Option(callback=above(0.0), help=_help("max_depth"))] = None,
    n_bins: Annotated[int | None, typer.Option(min=1, help=_help("n_bins"))] = None,
    bin_spacing: Annotated[str | None, typer.Option(help=_help("bin_spacing"))] = None,
    with_cls: Annotated[bool, typer.Option("--with-cls/--no-cls", help=_help("with_cls"))] = True,
    gradient_weight: Annotated[
        float | None, typer.Option(callback=in_range(0.0), help=_help("gradient_weight"))
    ] = None,
    crop: Annotated[str | None, typer.Option(help=_help("crop"))] = None,
    score_at: Annotated[str | None, typer.Option(help=_help("score_at"))] = None,
    protocol: Annotated[str | None, typer.Option(help=_help("protocol"))] = None,
    ms_scales: Annotated[str | None, typer.Option(callback=float_list(0.0), help=_help("ms_scales"))] = None,
    ms_flip: Annotated[bool, typer.Option("--ms-flip/--no-ms-flip", help=_help("ms_flip"))] = True,
    projection: Annotated[str | None, typer.Option(help=_help("projection"))] = None,
    projection_dim: Annotated[int | None, typer.Option(min=1, help=_help("projection_dim"))] = None,
    temperature: Annotated[float | None, typer.Option(callback=above(0.0), help=_help("temperature"))] = None,
    mutual: Annotated[bool, typer.Option("--mutual", help=_help("mutual"))] = False,
    soft_argmax: Annotated[float | None, typer.Option(callback=above(0.0), help=_help("soft_argmax"))] = None,
    window: Annotated[int | None, typer.Option(help=_help("window"))] = None,
    upsample: Annotated[int | None, typer.Option(min=1, help=_help("upsample"))] = None,
    alphas: Annotated[str | None, typer.Option(callback=float_list(0.0, 1.0), help=_help("alphas"))] = None,
    pck_reference: Annotated[str | None, typer.Option(help=_help("pck_reference"))] = None,
    pck_comparison: Annotated[str | None, typer.Option(help=_help("pck_comparison"))] = None,
    convention: Annotated[str | None, typer.Option(help=_help("convention"))] = None,
    feature: Annotated[str | None, typer.Option(help=_help("feature"))] = None,
    ks: Annotated[str | None, typer.Option(callback=int_list(low=1), help=_help("ks"))] = None,
    chunk_size: Annotated[int | None, typer.Option(min=1, help=_help("chunk_size"))] = None,
    cs: Annotated[str | None, typer.Option(callback=float_list(0.0), help=_help("cs"))] = None,
    max_iter: Annotated[int | None, typer.Option(min=1, help=_help("max_iter"))] = None,
    tol: Annotated[float | None, typer.Option(callback=in_range(0.0), help=_help("tol"))] = None,
    max_memory_gb: Annotated[float | None, typer.Option(callback=above(0.0), help=_help("max_memory_gb"))] = None,
    shots: Annotated[int | None, typer.Option(min=1, help=_help("shots"))] = None,
    shot_seeds: Annotated[int | None, typer.Option(min=1, help=_help("shot_seeds"))] = None,
    opt: Annotated[
        list[str] | None,
        typer.Option(
            "--opt",
            help="Any task option as KEY=VALUE (repeatable), e.g. "
            "--opt n_bins=64; for options without a flag of their own.",
        ),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help="A protocol preset: a name (probekit/presets/, e.g. small-data, dinov2-linear) or a YAML file; "
            "flags given here win."
        ),
    ] = None,
    label_map: Annotated[
        str,
        typer.Option(
            help="When val/test stores name their classes differently from train: none (refuse) | names "
            "(match class ids by name)."
        ),
    ] = "none",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Run again even if the results JSON exists.")] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Print nothing but errors and warnings (no progress bar, log or result lines)."
        ),
    ] = False,
) -> None:
    """Train a grid of linear heads on cached features, pick the best on val, and write a results JSON."""
    values = task_values(ctx, dict(locals()))
    values.update(_opt_values(opt, values))
    setup_logging(quiet)
    from probekit.tasks import TASKS, run_probe
    from probekit.tasks.classification import ClassificationOptions

    runner = TASKS.get(task)  # unknown tasks: one line naming the known ones
    check_output(out, "--out", directory=True)
    known = {f.name for f in fields(runner.options_type)}
    if foreign := [name for name in values if name not in known]:
        flags = ", ".join("--" + name.replace("_", "-") for name in foreign)
        raise ProbekitError(
            f"{flags} is not an option of the {task} task (its options: "
            f"{', '.join('--' + k.replace('_', '-') for k in sorted(known))})"
        )
    if preset is not None:
        from probekit.tasks.presets import load_preset

        values = {**load_preset(preset).options(task), **values}  # flags given here win
    options = runner.parse_options(values)
    if "n_blocks" in values:
        assert isinstance(options, ClassificationOptions)  # the one task with n_blocks (foreign options refused above)
        _check_n_blocks(features, options.layers, options.n_blocks)
    if runner.evaluates_whole_store(options) and val is None and test is None:
        val = test = features  # zero-shot (correspondence, multiview) on --features alone: evaluate that whole store
    path = run_probe(
        task,
        features,
        out,
        val=val,
        test=test,
        options=options,
        device=device,
        overwrite=overwrite,
        progress=not quiet,
        label_map=label_map,
        preset=preset,
    )
    if quiet:
        return
    result = json.loads(path.read_text())
    shown = {k: v for k, v in result["metrics"].items() if isinstance(v, (int, float))}
    typer.echo(f"{task} on {result['evaluated_on']}: " + ", ".join(f"{k}={v:.4g}" for k, v in shown.items()))
