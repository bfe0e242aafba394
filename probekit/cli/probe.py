"""`probekit probe`: a linear head on cached features, trained, selected on val and evaluated."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

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

# Defaults per task where the protocols differ: epochs, batch size, optimiser.
TASK_DEFAULTS = {
    "classification": {"epochs": 10, "batch_size": 128, "optimizer": "sgd"},
    "segmentation": {"epochs": 10, "batch_size": 16, "optimizer": "adamw"},
    "depth": {"epochs": 10, "batch_size": 16, "optimizer": "adamw"},
    "correspondence": {"epochs": 10, "batch_size": 8, "optimizer": "adamw"},  # batch = pairs; unused zero-shot
}
CORRESPONDENCE_OPTIONS = ("projection", "projection_dim", "temperature", "mutual", "soft_argmax", "window", "upsample",
                          "alphas", "pck_reference", "pck_comparison", "convention")


def _floats(text: Optional[str]) -> Optional[tuple[float, ...]]:
    return tuple(float(v) for v in text.split(",")) if text else None


def _ints(text: Optional[str]) -> Optional[tuple[int, ...]]:
    return tuple(int(v) for v in text.split(",")) if text else None


def _given(ctx: typer.Context, name: str) -> bool:
    """True when option `name` was given on the command line (not its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in {"DEFAULT", "DEFAULT_MAP"}


def _check_n_blocks(features: Path, layers: Optional[tuple[int, ...]], n_blocks: tuple[int, ...]) -> None:
    """--n-blocks given explicitly may not ask for more blocks than the layers used (--layers, else all stored)."""
    from probekit.features.store import FeatureStore

    with FeatureStore(features) as store:
        used = list(layers) if layers else store.layers
        if max(n_blocks) > len(used):
            raise ProbekitError(f"--n-blocks {max(n_blocks)} needs {max(n_blocks)} layers but {features} gives "
                                f"{len(used)} (layers {used}, stored {store.layers}): lower --n-blocks or re-extract with more --layers")


@fails_cleanly
def probe_command(
    ctx: typer.Context,
    task: Annotated[str, typer.Option(help="classification | segmentation | depth | correspondence")],
    features: Annotated[Path, typer.Option(help="Training feature store (probekit extract).")],
    out: Annotated[Path, typer.Option(help="Directory for the results JSON and the head's weights.")] = Path("runs/results"),
    val: Annotated[Optional[Path], typer.Option(help="Validation store for the grid selection (default: every 10th training sample).")] = None,
    test: Annotated[Optional[Path], typer.Option(help="Test store for the final numbers (default: report on val).")] = None,
    layers: Annotated[Optional[str], typer.Option(callback=int_list(), help="Stored layers to use, e.g. '-1' or '8,9,10,11' (default: classification all, dense tasks the last).")] = None,
    pooling: Annotated[str, typer.Option(help="Classification inputs, a grid: cls, cls+mean, mean (comma-separated).")] = "cls,cls+mean",
    n_blocks: Annotated[str, typer.Option(callback=int_list(low=1), help="Classification: use the last n stored blocks, a grid (DINOv2: 1,4).")] = "1,4",
    lrs: Annotated[Optional[str], typer.Option(callback=float_list(0.0), help="Learning-rate grid, comma-separated (default: the task's).")] = None,
    weight_decays: Annotated[Optional[str], typer.Option(callback=float_list(0.0, low_open=False), help="Weight-decay grid (default: classification 0, dense 1e-4).")] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Passes over the training features (default: 10).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Batch size (default: classification 128, dense 16).")] = None,
    optimizer: Annotated[Optional[str], typer.Option(callback=choice("sgd", "adamw"), help="sgd | adamw (default: classification sgd, dense adamw).")] = None,
    early_stopping: Annotated[Optional[int], typer.Option(min=1, help="Stop after N validations without improvement.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed for head init and batch order.")] = 0,
    device: Annotated[str, typer.Option(callback=device_option, help="'auto', 'cpu', 'cuda', ...")] = "auto",
    ignore_index: Annotated[Optional[int], typer.Option(help="Segmentation: label to ignore (default: from the store, 255).")] = None,
    reduce_zero_label: Annotated[bool, typer.Option("--reduce-zero-label", help="Segmentation: 0 -> ignore, k -> k-1 (ADE20K).")] = False,
    unknown_ids: Annotated[str, typer.Option(help="Segmentation: mask ids that are neither a class nor the ignore index: raise (default) | ignore.")] = "raise",
    head: Annotated[str, typer.Option(help="Depth head: bins (DINOv2) | regression (log depth).")] = "bins",
    min_depth: Annotated[Optional[float], typer.Option(callback=in_range(0.0), help="Depth range minimum in metres (default: from the store).")] = None,
    max_depth: Annotated[Optional[float], typer.Option(callback=above(0.0), help="Depth range maximum in metres (default: from the store).")] = None,
    n_bins: Annotated[int, typer.Option(min=1, help="Depth bins.")] = 256,
    bin_spacing: Annotated[str, typer.Option(help="Depth bin spacing: linear | log.")] = "linear",
    with_cls: Annotated[bool, typer.Option("--with-cls/--no-cls", help="Depth: concatenate the CLS token to every patch (DINOv2).")] = True,
    gradient_weight: Annotated[float, typer.Option(callback=in_range(0.0), help="Depth: weight of the gradient loss beside SILog.")] = 0.5,
    crop: Annotated[Optional[str], typer.Option(help="Depth evaluation crop: eigen (NYU) | garg (KITTI) | none (default: the dataset's protocol crop, exact per-sample boxes where stored).")] = None,
    projection: Annotated[str, typer.Option(help="Correspondence: none (zero-shot) | infonce | sigmoid (trained linear projection).")] = "none",
    projection_dim: Annotated[Optional[int], typer.Option(min=1, help="Correspondence: projection output size (default: the feature size).")] = None,
    temperature: Annotated[Optional[float], typer.Option(callback=above(0.0), help="Correspondence: InfoNCE temperature (default 0.07).")] = None,
    mutual: Annotated[bool, typer.Option("--mutual", help="Correspondence: also report PCK over mutual nearest neighbours only.")] = False,
    soft_argmax: Annotated[Optional[float], typer.Option(callback=above(0.0), help="Correspondence: soft-argmax refinement with this temperature (default: arg-max).")] = None,
    window: Annotated[int, typer.Option(help="Correspondence: soft-argmax window side, in cells (odd).")] = 3,
    upsample: Annotated[int, typer.Option(min=1, help="Correspondence: bilinear upsampling factor of the patch grids.")] = 1,
    alphas: Annotated[Optional[str], typer.Option(callback=float_list(0.0, 1.0), help="Correspondence: PCK thresholds (default 0.01,0.05,0.1,0.15).")] = None,
    pck_reference: Annotated[Optional[str], typer.Option(help="Correspondence: bbox (SPair) | image (PF-PASCAL) (default: the dataset's).")] = None,
    pck_comparison: Annotated[str, typer.Option(help="Correspondence: '<=' (DIFT, SD-DINO, CATs) or '<' (GeoAware-SC).")] = "<=",
    convention: Annotated[str, typer.Option(help="Correspondence: cell -> pixel: centre | sd-dino | corner.")] = "centre",
    label_map: Annotated[str, typer.Option(help="When val/test stores name their classes differently from train: none (refuse) | names (match class ids by name).")] = "none",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Run again even if the results JSON exists.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or log lines.")] = False,
) -> None:
    """Train a grid of linear heads on cached features, pick the best on val, and write a results JSON."""
    setup_logging(quiet)
    if task not in TASK_DEFAULTS:
        raise ProbekitError(f"unknown task {task!r}: use one of {', '.join(TASK_DEFAULTS)}")
    check_output(out, "--out", directory=True)
    if min_depth is not None and max_depth is not None and min_depth >= max_depth:
        raise ProbekitError(f"--min-depth {min_depth:g} must be below --max-depth {max_depth:g}")
    if task == "classification" and _given(ctx, "n_blocks"):
        _check_n_blocks(features, _ints(layers), _ints(n_blocks))
    from probekit.probes.trainer import TrainConfig
    from probekit.tasks import run_probe

    defaults = TASK_DEFAULTS[task]
    train = TrainConfig(
        epochs=epochs or defaults["epochs"], batch_size=batch_size or defaults["batch_size"],
        optimizer=optimizer or defaults["optimizer"], seed=seed, device=device, early_stopping=early_stopping,
    )
    options = {
        "layers": _ints(layers), "lrs": _floats(lrs), "weight_decays": _floats(weight_decays),
        "pooling": tuple(pooling.split(",")), "n_blocks": _ints(n_blocks),
        "ignore_index": ignore_index, "reduce_zero_label": reduce_zero_label, "head": head,
        "unknown_ids": unknown_ids if unknown_ids != "raise" else None,  # the default stays out of the settings hash
        "min_depth": min_depth, "max_depth": max_depth, "n_bins": n_bins, "bin_spacing": bin_spacing,
        "with_cls": with_cls, "gradient_weight": gradient_weight, "crop": crop,
    }
    if task != "classification":
        options = {k: v for k, v in options.items() if k not in ("pooling", "n_blocks")}
    if task != "depth":
        options = {k: v for k, v in options.items()
                   if k not in ("head", "min_depth", "max_depth", "n_bins", "bin_spacing", "with_cls", "gradient_weight", "crop")}
    if task != "segmentation":
        options = {k: v for k, v in options.items() if k not in ("ignore_index", "reduce_zero_label", "unknown_ids")}
    if task == "correspondence":
        options.update(projection=projection, projection_dim=projection_dim, temperature=temperature, mutual=mutual,
                       soft_argmax=soft_argmax, window=window, upsample=upsample, alphas=_floats(alphas),
                       pck_reference=pck_reference, pck_comparison=pck_comparison, convention=convention)
        options = {k: v for k, v in options.items() if k in ("layers", "lrs", "weight_decays", *CORRESPONDENCE_OPTIONS)}
        if projection == "none" and val is None and test is None:
            val = test = features  # zero-shot on --features alone: evaluate that whole store (no hold-out)
    path = run_probe(task, features, out, val=val, test=test, options=options, train_config=train,
                     overwrite=overwrite, progress=not quiet, label_map=label_map)
    import json

    result = json.loads(path.read_text())
    shown = {k: v for k, v in result["metrics"].items() if isinstance(v, (int, float))}
    typer.echo(f"{task} on {result['evaluated_on']}: " + ", ".join(f"{k}={v:.4g}" for k, v in shown.items()))
    typer.echo(f"wrote {path}", err=True)
