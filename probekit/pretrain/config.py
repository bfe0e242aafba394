"""The settings of a DINO pretraining run: one frozen dataclass, serialised as configs/pretrain/*.yaml."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probekit.errors import ProbekitError


class PretrainError(ProbekitError):
    """A pretraining config, checkpoint or run directory is unusable."""


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that decides a pretraining run (names follow dinov2/configs/ssl_default_config.yaml).

    Schedule lengths are fractions of the total number of steps, because the total is decided per run
    (fixed `steps`, or what fits in `max_minutes`); DINO states them in epochs of a fixed-length run.
    """

    # backbone: a timm ViT with a CLS token and absolute position embeddings
    model: str = "vit_small_patch8_224"
    embed_dim: int = 192
    depth: int = 6
    num_heads: int = 3
    drop_path_rate: float = 0.0
    # data: a pool of pre-rendered synthetic scenes, multi-crop views cut from it on the device
    pool_size: int = 20000
    pool_image_size: int = 128
    pool_seed: int = 0
    num_classes: int = 6  # synthetic scene classes (the generator's default benchmark)
    global_size: int = 96
    local_size: int = 48
    local_crops: int = 6
    global_scale: tuple[float, float] = (0.32, 1.0)
    local_scale: tuple[float, float] = (0.05, 0.32)
    # DINO head (CLS) and iBOT (masked patch tokens)
    head_hidden_dim: int = 2048
    head_bottleneck_dim: int = 256
    head_prototypes: int = 4096
    head_layers: int = 3
    norm_last_layer: bool = True  # DINO v1: the prototypes' weight-norm scale g is fixed at 1
    koleo_loss_weight: float = 0.0  # DINOv2 uses 0.1; 0 turns KoLeo off
    ibot: bool = False
    ibot_loss_weight: float = 1.0
    ibot_separate_head: bool = True
    ibot_prototypes: int = 4096
    ibot_mask_probability: float = 0.5  # share of global crops that get masked
    ibot_mask_ratio: tuple[float, float] = (0.1, 0.5)
    # loss temperatures and centering
    student_temp: float = 0.1
    teacher_temp: float = 0.07
    warmup_teacher_temp: float = 0.04
    teacher_temp_warmup_fraction: float = 0.3
    center_momentum: float = 0.9
    # teacher EMA momentum: cosine from momentum_teacher to final_momentum_teacher
    momentum_teacher: float = 0.996
    final_momentum_teacher: float = 1.0
    # optimisation (AdamW); lr = base_lr * sqrt(batch_size / 1024) as DINOv2's sqrt_wrt_1024
    batch_size: int = 256
    base_lr: float = 0.004
    min_lr: float = 1.0e-6
    warmup_fraction: float = 0.1
    weight_decay: float = 0.04
    weight_decay_end: float = 0.4
    clip_grad: float = 3.0
    freeze_last_layer_fraction: float = 0.02
    adamw_betas: tuple[float, float] = (0.9, 0.999)
    # run length: fixed steps, or (when steps is None) as many as fit in max_minutes
    steps: int | None = None
    max_minutes: float = 6.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bfloat16 autocast on CUDA; ignored on CPU
    compile: bool = False
    log_every: int = 10
    checkpoint_every_minutes: float = 2.0
    workers: int | None = None  # pool rendering processes; None = all cores

    def __post_init__(self) -> None:
        for name in ("global_scale", "local_scale", "ibot_mask_ratio", "adamw_betas"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        patch = self.patch_size
        for name in ("global_size", "local_size", "pool_image_size"):
            if getattr(self, name) % patch:
                raise PretrainError(f"{name}={getattr(self, name)} is not a multiple of the patch size {patch}")
        if self.local_size > self.global_size or self.global_size > self.pool_image_size:
            raise PretrainError("need local_size <= global_size <= pool_image_size")
        if self.batch_size < 2 or self.pool_size < 1 or self.local_crops < 0:
            raise PretrainError("need batch_size >= 2, pool_size >= 1 and local_crops >= 0")
        if not (math.isfinite(self.max_minutes) and self.max_minutes > 0):
            raise PretrainError(f"max_minutes={self.max_minutes}; use a positive number of minutes")
        if self.workers is not None and self.workers < 0:
            raise PretrainError(f"workers={self.workers}; use 0 or more, or leave it unset for all cores")
        if self.steps is not None and self.steps < 1:
            raise PretrainError(f"steps={self.steps}; use a positive number or leave it unset for max_minutes")
        if self.embed_dim % self.num_heads:
            raise PretrainError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")

    @property
    def patch_size(self) -> int:
        """Patch size read from the timm model name ('..._patch8_...')."""
        for part in self.model.split("_"):
            if part.startswith("patch") and part[5:].isdigit():
                return int(part[5:])
        raise PretrainError(
            f"cannot read a patch size from model name {self.model!r}; use a timm name like vit_small_patch8_224"
        )

    @property
    def lr(self) -> float:
        """Peak learning rate: DINOv2's sqrt_wrt_1024 scaling rule."""
        return self.base_lr * float((self.batch_size / 1024) ** 0.5)

    def timm_kwargs(self) -> dict[str, Any]:
        """`timm.create_model(self.model, **kwargs)` builds the backbone the exported weights fit."""
        return dict(
            embed_dim=self.embed_dim,
            depth=self.depth,
            num_heads=self.num_heads,
            img_size=self.global_size,
            num_classes=0,
            dynamic_img_size=True,
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def replace(self, **changes: Any) -> PretrainConfig:
        """A copy with some settings changed (None values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_pretrain_config(path: str | Path | None) -> PretrainConfig:
    """PretrainConfig from a YAML file of its fields (defaults for missing ones); None gives the defaults."""
    if path is None:
        return PretrainConfig()
    from probekit.yamlfile import read_yaml

    path = Path(path)
    values = read_yaml(path, "config file") or {}
    known = {f.name for f in dataclasses.fields(PretrainConfig)}
    if not isinstance(values, dict) or set(values) - known:
        unknown = sorted(set(values) - known) if isinstance(values, dict) else values
        raise PretrainError(f"{path}: unknown pretrain settings {unknown}; see probekit/pretrain/config.py")
    return PretrainConfig(**values)
