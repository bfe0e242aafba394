"""Per-step schedules of DINO training: lr, weight decay, teacher momentum, teacher temperature."""

from __future__ import annotations

import math
from dataclasses import dataclass

from probekit.pretrain.config import PretrainConfig


@dataclass(frozen=True)
class CosineSchedule:
    """DINOv2's CosineScheduler: `freeze` steps at 0, a linear warmup from `warmup_start` to `base`
    over `warmup` steps, then a half cosine from `base` to `final` over the remaining steps;
    `final` for any step >= total."""

    base: float
    final: float
    total: int
    warmup: int = 0
    warmup_start: float = 0.0
    freeze: int = 0

    def __getitem__(self, step: int) -> float:
        if step >= self.total:
            return self.final
        if step < self.freeze:
            return 0.0
        step -= self.freeze
        if step < self.warmup:
            # np.linspace(start, base, warmup): the last warmup step already reaches `base`
            return self.warmup_start + (self.base - self.warmup_start) * (step / max(self.warmup - 1, 1))
        step -= self.warmup
        length = self.total - self.warmup - self.freeze
        return self.final + 0.5 * (self.base - self.final) * (1 + math.cos(math.pi * step / length))


@dataclass(frozen=True)
class FrozenStart:
    """A schedule that is 0 for its first `freeze` steps and `inner` afterwards."""

    inner: CosineSchedule
    freeze: int

    def __getitem__(self, step: int) -> float:
        return 0.0 if step < self.freeze else self.inner[step]


@dataclass(frozen=True)
class Schedules:
    """All schedules of one run of `total` steps."""

    lr: CosineSchedule
    last_layer_lr: FrozenStart  # lr, but 0 while the prototypes are frozen
    weight_decay: CosineSchedule
    momentum: CosineSchedule
    teacher_temp: CosineSchedule

    def at(self, step: int) -> dict[str, float]:
        return {
            "lr": self.lr[step],
            "last_layer_lr": self.last_layer_lr[step],
            "weight_decay": self.weight_decay[step],
            "momentum": self.momentum[step],
            "teacher_temp": self.teacher_temp[step],
        }


def build_schedules(config: PretrainConfig, total: int) -> Schedules:
    """The schedules of `config` stretched over `total` steps (warmups are fractions of it, at least 1 step)."""
    warmup = min(max(1, round(config.warmup_fraction * total)), total)
    temp_warmup = min(max(1, round(config.teacher_temp_warmup_fraction * total)), total)
    freeze = min(round(config.freeze_last_layer_fraction * total), total)
    lr = CosineSchedule(config.lr, config.min_lr, total, warmup=warmup)
    # DINOv2 zeroes the first `freeze` entries of the lr schedule (the warmup keeps its place).
    return Schedules(
        lr=lr,
        last_layer_lr=FrozenStart(lr, freeze),
        weight_decay=CosineSchedule(config.weight_decay, config.weight_decay_end, total),
        momentum=CosineSchedule(config.momentum_teacher, config.final_momentum_teacher, total),
        # DINOv2: linear warmup from warmup_teacher_temp, then constant teacher_temp
        teacher_temp=CosineSchedule(
            config.teacher_temp,
            config.teacher_temp,
            temp_warmup,
            warmup=temp_warmup,
            warmup_start=config.warmup_teacher_temp,
        ),
    )
