"""`probekit pretrain`: DINO self-distillation of a small ViT on synthetic scenes -> timm .safetensors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from probekit.cli.common import above, check_output, device_option, fails_cleanly, setup_logging


@fails_cleanly
def pretrain_command(
    out: Annotated[
        Path, typer.Option(help="Run directory: log.jsonl, run.json, checkpoint.pt, teacher_backbone.safetensors.")
    ],
    config: Annotated[
        Path | None, typer.Option(help="YAML preset (configs/pretrain/*.yaml); flags given here win.")
    ] = None,
    device: Annotated[
        str | None, typer.Option(callback=device_option, help="'auto', 'cpu', 'cuda', 'cuda:1', ...")
    ] = None,
    max_minutes: Annotated[
        float | None,
        typer.Option(
            callback=above(0.0), help="Wall-time budget: the run takes as many steps as fit (measured first)."
        ),
    ] = None,
    steps: Annotated[
        int | None, typer.Option(min=1, help="Fixed number of steps (overrides --max-minutes for the run length).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=2, help="Images per step (each gives 2 global + L local crops).")
    ] = None,
    global_size: Annotated[
        int | None, typer.Option(min=1, help="Global crop size in px (multiple of the patch).")
    ] = None,
    local_size: Annotated[
        int | None, typer.Option(min=1, help="Local crop size in px (multiple of the patch).")
    ] = None,
    local_crops: Annotated[int | None, typer.Option(min=0, help="Local crops per image.")] = None,
    pool_size: Annotated[
        int | None, typer.Option(min=1, help="Synthetic scenes rendered once and cropped from.")
    ] = None,
    pool_image_size: Annotated[int | None, typer.Option(min=1, help="Render size of the pool scenes in px.")] = None,
    pool_cache: Annotated[
        Path | None, typer.Option(help="Cache the rendered pool in this .npy file (reused when it fits).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=0, help="Processes rendering the pool (default: all cores).")
    ] = None,
    base_lr: Annotated[
        float | None,
        typer.Option(callback=above(0.0), help="lr for batch 1024; the run uses base_lr * sqrt(batch / 1024)."),
    ] = None,
    ibot: Annotated[
        bool | None, typer.Option("--ibot/--no-ibot", help="Add iBOT's masked-patch loss.", show_default=False)
    ] = None,
    compile: Annotated[
        bool | None, typer.Option("--compile/--no-compile", help="torch.compile the backbones.", show_default=False)
    ] = None,
    amp: Annotated[
        bool | None,
        typer.Option("--amp/--no-amp", help="bfloat16 autocast on CUDA (ignored on CPU).", show_default=False),
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Seed of initialisation, crops and batches.")] = None,
    log_every: Annotated[int | None, typer.Option(min=1, help="Write a log line every N steps.")] = None,
    resume: Annotated[
        bool, typer.Option("--resume/--no-resume", help="Continue from OUT/checkpoint.pt when it exists.")
    ] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or log lines.")] = False,
) -> None:
    """Pretrain a small ViT with DINO on synthetic scenes; writes the teacher backbone in timm's layout."""
    setup_logging(quiet)
    check_output(out, "--out", directory=True)
    if pool_cache is not None:
        check_output(pool_cache, "--pool-cache", directory=False)
    from probekit.pretrain import load_pretrain_config, pretrain

    settings = load_pretrain_config(config).replace(
        device=device,
        max_minutes=max_minutes,
        steps=steps,
        batch_size=batch_size,
        global_size=global_size,
        local_size=local_size,
        local_crops=local_crops,
        pool_size=pool_size,
        pool_image_size=pool_image_size,
        workers=workers,
        base_lr=base_lr,
        ibot=ibot,
        compile=compile,
        amp=amp,
        seed=seed,
        log_every=log_every,
    )
    if not resume:
        (out / "checkpoint.pt").unlink(missing_ok=True)
        (out / "log.jsonl").unlink(missing_ok=True)
    weights = pretrain(settings, out, resume=resume, progress=not quiet, pool_cache=pool_cache)
    if not quiet:
        typer.echo(f"wrote {weights}", err=True)
