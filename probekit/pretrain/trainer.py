"""`pretrain(config, out)`: a whole DINO run, resumable, with a log, provenance and the exported teacher.

Run length: `config.steps` when set; otherwise the steps that fit in `config.max_minutes` of wall time
(counted from the call, pool rendering included). The step time is measured on a few real steps
whose effect is then undone (weights, optimizer, centers and RNGs restored), so every schedule is
built once, for the final total, and runs to its end.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from probekit.device import resolve_device
from probekit.files import atomic_write_text
from probekit.pretrain.augment import MultiCropConfig
from probekit.pretrain.checkpoint import load_checkpoint, python_rng_state, save_checkpoint, set_python_rng_state
from probekit.pretrain.config import PretrainConfig, PretrainError
from probekit.pretrain.export import export_backbone
from probekit.pretrain.model import build_student_teacher
from probekit.pretrain.optim import build_optimizer
from probekit.pretrain.pool import load_or_render_pool
from probekit.pretrain.schedules import build_schedules
from probekit.pretrain.step import DINOStep
from probekit.progress import progress_bar
from probekit.provenance import git_sha, utc_now, versions

log = logging.getLogger("probekit.pretrain")

WEIGHTS_NAME = "teacher_backbone.safetensors"
CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"
RUN_NAME = "run.json"


def pretrain(
    config: PretrainConfig,
    out: str | Path,
    resume: bool = True,
    progress: bool = True,
    pool_cache: str | Path | None = None,
) -> Path:
    """Train, then write `out`/teacher_backbone.safetensors (timm layout, fp16); returns its path."""
    start = time.monotonic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(config.seed)

    pool = torch.from_numpy(
        load_or_render_pool(
            config.pool_size, config.pool_image_size, config.pool_seed, config.num_classes, config.workers, pool_cache
        )
    ).to(device)
    student, teacher = build_student_teacher(config)
    student.to(device).train()
    teacher.to(device)
    cfg = student.backbone.vit.pretrained_cfg
    crops = MultiCropConfig(
        config.global_size,
        config.local_size,
        config.local_crops,
        config.global_scale,
        config.local_scale,
        tuple(cfg["mean"]),
        tuple(cfg["std"]),
    )
    step_fn = DINOStep(
        config, student, teacher, build_optimizer(student, config.adamw_betas, device), crops, device, config.seed
    )
    log.info(
        "pretrain: %s dim %d depth %d on %s, batch %d, %d global + %d local crops (%d/%d px), pool %d in %.0f s",
        config.model,
        config.embed_dim,
        config.depth,
        device,
        config.batch_size,
        2,
        config.local_crops,
        config.global_size,
        config.local_size,
        config.pool_size,
        time.monotonic() - start,
    )

    checkpoint_path = out / CHECKPOINT_NAME
    first, step_seconds = 0, None
    if resume and checkpoint_path.is_file():
        state = load_checkpoint(checkpoint_path, config)
        _restore(step_fn, state)
        first, total = state["step"], state["total_steps"]
        log.info("pretrain: resuming %s at step %d of %d", checkpoint_path, first, total)
    elif config.steps is not None:
        total = config.steps
    else:
        step_seconds = _measure_step_seconds(step_fn, pool, config, device)
        total = _steps_in_budget(config, step_seconds, time.monotonic() - start)
        log.info("pretrain: %.3f s per step -> %d steps in %.1f minutes", step_seconds, total, config.max_minutes)
    schedules = build_schedules(config, total)
    run_info = {
        "config": config.to_dict(),
        "seed": config.seed,
        "total_steps": total,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
        "measured_step_seconds": step_seconds,
        "lr_peak": config.lr,
        "timm_model": config.model,
        "timm_kwargs": config.timm_kwargs(),
        "mean": list(crops.mean),
        "std": list(crops.std),
        "weights": WEIGHTS_NAME,
        "versions": versions(),
        "git_sha": git_sha(),
        "created": utc_now(),
        "resumed_from_step": first or None,
    }
    atomic_write_text(out / RUN_NAME, json.dumps(run_info, indent=2) + "\n")

    last_save, done, truncated = time.monotonic(), first, False
    # A guard only: the total was sized to fit; a much slower machine than measured stops here.
    hard_deadline = start + 66 * config.max_minutes + 30 if config.steps is None else math.inf
    bar = progress_bar(total, "pretrain", "step", enabled=progress, initial=first)
    with open(out / LOG_NAME, "a") as log_file:
        for step in range(first, total):
            values = schedules.at(step)
            metrics = step_fn(step_fn.sample_batch(pool), values)
            done = step + 1
            bar.update(1)
            if step % config.log_every == 0 or done == total:
                record = {
                    "step": step,
                    **{k: round(float(v), 6) for k, v in metrics.items()},
                    **{k: round(v, 8) for k, v in values.items()},
                    "elapsed_s": round(time.monotonic() - start, 2),
                }
                if not math.isfinite(record["loss"]):
                    raise PretrainError(f"loss is {record['loss']} at step {step}: lower base_lr or keep clip_grad on")
                log_file.write(json.dumps(record) + "\n")
                log_file.flush()
                bar.set_postfix(loss=f"{record['loss']:.3f}")
            if time.monotonic() - last_save > 60 * config.checkpoint_every_minutes and done < total:
                save_checkpoint(checkpoint_path, _state(step_fn, config, done, total))
                last_save = time.monotonic()
            if time.monotonic() > hard_deadline and done < total:
                truncated = True
                log.warning(
                    "pretrain: past 110%% of --max-minutes + 30 s at step %d of %d; stopping early", done, total
                )
                break
    bar.close()
    save_checkpoint(checkpoint_path, _state(step_fn, config, done, total))
    weights = export_backbone(teacher.backbone.vit, config, out / WEIGHTS_NAME, done)
    run_info.update(steps_done=done, truncated=truncated, wall_s=round(time.monotonic() - start, 1), finished=utc_now())
    atomic_write_text(out / RUN_NAME, json.dumps(run_info, indent=2) + "\n")
    log.info("pretrain: %d steps in %.1f min -> %s", done, (time.monotonic() - start) / 60, weights)
    return weights


def _steps_in_budget(config: PretrainConfig, step_seconds: float, elapsed: float) -> int:
    """Steps that fit in what is left of max_minutes, keeping 5% for checkpoints and the final save."""
    left = 60 * config.max_minutes * 0.95 - elapsed
    steps = int(left / step_seconds)
    if steps < 1:
        raise PretrainError(
            f"--max-minutes {config.max_minutes} leaves no time to train "
            f"({step_seconds:.2f} s per step, {elapsed:.0f} s spent on setup): allow more minutes"
        )
    return steps


def _measure_step_seconds(step_fn: DINOStep, pool: torch.Tensor, config: PretrainConfig, device: torch.device) -> float:
    """Seconds per step, timed on real steps that are then undone."""
    warm, timed = (5, 10) if device.type == "cuda" else (1, 3)
    saved = _state(step_fn, config, 0, 0)
    saved = {k: copy.deepcopy(v) for k, v in saved.items()}
    probe = build_schedules(config, 1000).at(500)
    for i in range(warm + timed):
        if i == warm:
            _sync(device)
            begin = time.perf_counter()
        step_fn(step_fn.sample_batch(pool), probe)
    _sync(device)
    seconds = (time.perf_counter() - begin) / timed
    _restore(step_fn, saved)
    return seconds


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _state(step_fn: DINOStep, config: PretrainConfig, step: int, total: int) -> dict[str, Any]:
    return {
        "step": step,
        "total_steps": total,
        "config": config.to_dict(),
        "student": step_fn.student.state_dict(),
        "teacher": step_fn.teacher.state_dict(),
        "optimizer": step_fn.optimizer.state_dict(),
        "dino_loss": step_fn.dino_loss.state_dict(),
        "ibot_loss": step_fn.ibot_loss.state_dict() if step_fn.ibot_loss is not None else None,
        "generator": step_fn.generator.get_state(),
        "mask_rng": python_rng_state(step_fn.mask_rng),
    }


def _restore(step_fn: DINOStep, state: dict[str, Any]) -> None:
    step_fn.student.load_state_dict(state["student"])
    step_fn.teacher.load_state_dict(state["teacher"])
    step_fn.optimizer.load_state_dict(state["optimizer"])
    step_fn.dino_loss.load_state_dict(state["dino_loss"])
    if step_fn.ibot_loss is not None:
        step_fn.ibot_loss.load_state_dict(state["ibot_loss"])
    step_fn.generator.set_state(state["generator"])
    set_python_rng_state(step_fn.mask_rng, state["mask_rng"])
