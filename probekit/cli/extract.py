"""`probekit extract`: frozen backbone -> CLS, mean and patch features of a dataset split -> HDF5."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from probekit.cli.common import (
    check_output,
    choice,
    device_option,
    fails_cleanly,
    parse_size,
    setup_logging,
)
from probekit.errors import ProbekitError


def _is_default(ctx: typer.Context, name: str) -> bool:
    """True when option `name` was not given on the command line (so a --config preset may set it)."""
    source = ctx.get_parameter_source(name)
    return source is None or source.name in {"DEFAULT", "DEFAULT_MAP"}


# Counts a --config preset may set, and their least value (the command-line flags have typer's min=).
PRESET_MINIMUM = {"batch_size": 1, "limit": 1, "workers": 0, "seed": 0, "subset_seed": 0}


def _check_preset(path: Path, preset: dict[str, Any]) -> None:
    """The preset's counts are checked like the flags, naming the file (not a DataLoader error later)."""
    for key, low in PRESET_MINIMUM.items():
        value = preset.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
            raise ProbekitError(f"{path}: {key} must be an integer of at least {low}, not {value!r}")


@fails_cleanly
def extract_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Feature store to write (HDF5); an interrupted one is resumed.")],
    backbone: Annotated[
        str | None, typer.Option(help="Alias (see `probekit backbones`) or any timm model name.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML preset (configs/extract/*.yaml); flags given on the command line win.")
    ] = None,
    dataset: Annotated[str, typer.Option(help="Dataset adapter; 'synthetic' needs no download.")] = "synthetic",
    split: Annotated[str, typer.Option(help="Dataset split.")] = "train",
    root: Annotated[str | None, typer.Option(help="Dataset root directory (real datasets).")] = None,
    weights: Annotated[
        Path | None,
        typer.Option(help="Local .pth/.safetensors checkpoint (timm or Meta DINOv2 layout); no network."),
    ] = None,
    random_init: Annotated[
        bool, typer.Option("--random-init", help="Seeded random weights: the untrained baseline.")
    ] = False,
    seed: Annotated[int, typer.Option(min=0, help="Seed for --random-init.")] = 0,
    image_size: Annotated[
        str, typer.Option(help="Input size, '224' or 'HxW' like '224x320'; multiple of the patch.")
    ] = "224",
    layers: Annotated[str, typer.Option(help="Blocks to store: '-1', 'last4', 'quarters', 'all' or '0,5,11'.")] = "-1",
    outputs: Annotated[
        str,
        typer.Option(
            help="Feature outputs to store per layer, a subset of cls,mean,patch: cls,mean for classification, "
            "kNN and logreg; patch for segmentation, depth (with cls) and correspondence.",
        ),
    ] = "cls,mean,patch",
    norm: Annotated[
        bool, typer.Option("--norm/--no-norm", help="Apply the final norm to every stored layer (DINOv2 protocol).")
    ] = True,
    dtype: Annotated[
        str, typer.Option(callback=choice("float16", "float32"), help="Storage dtype: float16 or float32.")
    ] = "float16",
    batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 32,
    workers: Annotated[
        int | None,
        typer.Option(min=0, help="DataLoader worker processes (0 = main process; default: cores - 1, at most 8)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Use only N samples of the split.")] = None,
    subset_seed: Annotated[
        int | None, typer.Option(min=0, help="With --limit: a seeded random subset instead of the first N.")
    ] = None,
    device: Annotated[str, typer.Option(callback=device_option, help="'auto', 'cpu', 'cuda', 'cuda:1', ...")] = "auto",
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="bfloat16 autocast on GPU (ignored on CPU).")] = True,
    impl: Annotated[
        str,
        typer.Option(
            callback=choice("timm", "reference"),
            help="Who runs the weights: 'timm' (the library that built them; transformers for hf:) or 'reference' "
            "(probekit's from-scratch ViT, same features within 1e-5).",
        ),
    ] = "timm",
    on_error: Annotated[
        str,
        typer.Option(
            callback=choice("raise", "skip"),
            help="An unreadable (missing, truncated, corrupt) image: 'raise' stops naming it; 'skip' leaves it out "
            "of the store and lists it (see `probekit info`).",
        ),
    ] = "raise",
    scales: Annotated[
        str | None,
        typer.Option(
            help="+ms test views: also extract at these scales of --image-size, one store each beside --out "
            "(e.g. '0.5,0.75,1,1.25,1.5,1.75', DINOv2's +ms); must include 1, the base store.",
        ),
    ] = None,
    flip: Annotated[
        bool,
        typer.Option("--flip", help="+ms test views: also extract every scale mirrored left-right (DINOv2's +ms)."),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an existing store (only once the new one is complete) instead of resuming/skipping.",
        ),
    ] = False,
    no_space_check: Annotated[
        bool,
        typer.Option("--no-space-check", help="Start even when the estimated store size exceeds the free disk space."),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Write nothing: print the number of images, the store size (features, targets, originals), the "
            "free space at --out and a time estimate from a few timed batches.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or log lines.")] = False,
    nproc: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Launch torchrun with N processes on this node (one shard each, joined into --out); the same as "
            "`torchrun --standalone --nproc-per-node N -m probekit extract ...`.",
        ),
    ] = None,
) -> None:
    """Extract features of one dataset split with a frozen backbone into an HDF5 feature store."""
    setup_logging(quiet)
    check_output(out, "--out", directory=False)
    settings: dict[str, Any] = dict(
        backbone=backbone,
        dataset=dataset,
        split=split,
        root=root,
        weights=str(weights) if weights else None,
        random_init=random_init,
        seed=seed,
        image_size=parse_size(image_size),
        layers=layers,
        outputs=split_list(outputs),
        norm=norm,
        dtype=dtype,
        batch_size=batch_size,
        workers=workers,
        limit=limit,
        subset_seed=subset_seed,
        device=device,
        amp=amp,
        impl=impl,
        on_error=on_error,
    )
    if config is not None:
        from probekit.features.extract import load_config_file

        preset = load_config_file(config)
        _check_preset(config, preset)
        settings.update({k: v for k, v in preset.items() if _is_default(ctx, k)})
    if not settings["backbone"]:
        raise ProbekitError("no backbone: pass --backbone NAME (see `probekit backbones`) or a --config that sets one")

    from probekit.backbones.hub import preflight_backbone_weights

    # Fail fast, before torch loads, when pretrained weights can't be had.
    preflight_backbone_weights(settings["backbone"], settings["weights"], settings["random_init"])

    from probekit.features.extract import ExtractConfig, extract, extract_views, plan
    from probekit.features.shards import extract_sharded, extract_views_sharded, launch, rank_from_env

    if dry_run:
        if scales is not None or flip:
            raise ProbekitError("--dry-run plans the base store only: run it without --scales/--flip")
        typer.echo("\n".join(plan(ExtractConfig(**settings), out).lines()))
        return

    if nproc is not None:
        if "WORLD_SIZE" in os.environ:
            raise ProbekitError("--nproc launches torchrun, but this process runs under torchrun already: drop --nproc")
        launch(nproc, command_line(ctx, skip=("nproc",)))
        return
    rank = rank_from_env()
    if rank is not None and (scales is not None or flip):
        paths = extract_views_sharded(
            ExtractConfig(**settings),
            out,
            _parse_scales(scales),
            flip,
            rank,
            overwrite,
            progress=not quiet,
            check_space=not no_space_check,
        )
        if not quiet and rank.rank == 0:
            typer.echo(f"wrote {paths[0]} and {len(paths) - 1} view stores beside it", err=True)
        return
    if rank is not None:
        path = extract_sharded(
            ExtractConfig(**settings), out, rank, overwrite, progress=not quiet, check_space=not no_space_check
        )
        if not quiet and rank.rank == 0:
            typer.echo(f"wrote {path}  (inspect: probekit info {path})", err=True)
        return
    if scales is not None or flip:
        views = _parse_scales(scales)
        paths = extract_views(
            ExtractConfig(**settings), out, views, flip, overwrite, progress=not quiet, check_space=not no_space_check
        )
        if not quiet:
            typer.echo(f"wrote {paths[0]} and {len(paths) - 1} view stores beside it", err=True)
        return
    path = extract(
        ExtractConfig(**settings), out, overwrite=overwrite, progress=not quiet, check_space=not no_space_check
    )
    if not quiet:
        typer.echo(f"wrote {path}  (inspect: probekit info {path})", err=True)


def command_line(ctx: typer.Context, skip: tuple[str, ...] = ()) -> list[str]:
    """The options given on the command line, as arguments again (for the ranks that --nproc launches)."""
    args: list[str] = []
    for param in ctx.command.params:
        name = param.name or ""
        if name in skip or param.param_type_name != "option" or _is_default(ctx, name):
            continue
        value = ctx.params[name]
        if getattr(param, "is_flag", False):
            flags = [param.opts[0]] if value else param.secondary_opts[:1]  # --norm / --no-norm
            args += flags
        elif value is not None:
            args += [param.opts[0], str(value)]
    return args


def split_list(text: str) -> tuple[str, ...]:
    """'cls, mean' -> ('cls', 'mean'); the names are checked with the other settings (check_config)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _parse_scales(text: str | None) -> tuple[float, ...]:
    """'0.5,1,1.5' -> (0.5, 1.0, 1.5); None (only --flip) -> (1.0,); anything else names the option."""
    if text is None:
        return (1.0,)
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ProbekitError(f"--scales {text!r}: give comma-separated numbers, e.g. 0.5,0.75,1,1.25,1.5,1.75") from None
