"""One DINO training step: multi-crop, teacher targets, student losses, AdamW, EMA (dinov2 SSLMetaArch)."""

from __future__ import annotations

import contextlib
import math
import random

import torch
from torch import nn

from probekit.pretrain.augment import MultiCropConfig, multi_crop
from probekit.pretrain.config import PretrainConfig
from probekit.pretrain.ema import update_teacher
from probekit.pretrain.loss import DINOLoss, IBOTPatchLoss, koleo_loss
from probekit.pretrain.masking import batch_masks
from probekit.pretrain.model import DINONetwork
from probekit.pretrain.optim import apply_schedule


class DINOStep:
    """Holds everything one step touches; `__call__(images, schedule)` trains on one batch.

    The teacher sees the 2 global crops, the student all 2 + L crops; the DINO loss pairs every
    teacher view with every other student view. With iBOT on, the student's global crops are
    block-masked and its masked patch tokens are distilled from the teacher's unmasked ones.
    """

    def __init__(
        self,
        config: PretrainConfig,
        student: DINONetwork,
        teacher: DINONetwork,
        optimizer: torch.optim.Optimizer,
        crops: MultiCropConfig,
        device: torch.device,
        seed: int,
    ):
        self.config, self.student, self.teacher, self.optimizer, self.crops = config, student, teacher, optimizer, crops
        self.device = device
        self.dino_loss = DINOLoss(config.head_prototypes, config.student_temp, config.center_momentum).to(device)
        self.ibot_loss = None
        if config.ibot:
            self.ibot_loss = IBOTPatchLoss(
                student.patch_head.last_layer.out_features, config.student_temp, config.center_momentum
            ).to(device)
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.mask_rng = random.Random(seed)
        # Compiled callables share parameters with the modules, whose state dicts keep timm's keys.
        wrap = torch.compile if config.compile else (lambda m: m)
        self.student_backbone, self.teacher_backbone = wrap(student.backbone), wrap(teacher.backbone)
        self.use_amp = config.amp and device.type == "cuda"

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.use_amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def sample_batch(self, pool: torch.Tensor) -> torch.Tensor:
        """B random images (B, H, W, 3) uint8 of the pool, drawn with replacement."""
        index = torch.randint(len(pool), (self.config.batch_size,), device=pool.device, generator=self.generator)
        return pool[index]

    def _masks(self, n: int, grid: tuple[int, int]) -> torch.Tensor | None:
        if self.ibot_loss is None:
            return None
        masks = batch_masks(n, *grid, self.config.ibot_mask_probability, self.config.ibot_mask_ratio, self.mask_rng)
        return torch.from_numpy(masks).to(self.device, non_blocking=True)  # (2B, h*w) bool

    def __call__(self, images: torch.Tensor, schedule: dict[str, float]) -> dict[str, torch.Tensor]:
        """Train on uint8 images (B, H, W, 3); returns detached losses and the gradient norm (no sync)."""
        config, student, teacher, ibot_loss = self.config, self.student, self.teacher, self.ibot_loss
        apply_schedule(self.optimizer, schedule["lr"], schedule["weight_decay"], schedule["last_layer_lr"])
        with torch.no_grad():
            global_crops, local_crops = multi_crop(images.to(self.device), self.crops, self.generator)
        n_global = global_crops.shape[0]  # 2B: view 0 of every image, then view 1
        patch = config.patch_size
        masks = self._masks(n_global, (config.global_size // patch, config.global_size // patch))
        out: dict[str, torch.Tensor] = {}
        with self.autocast():
            with torch.no_grad():
                t_cls, t_patches = self.teacher_backbone(global_crops)  # (2B, D), (2B, N, D)
                t_logits = teacher.dino_head(t_cls)  # (2B, K)
                t_probs = self.dino_loss.teacher_probs(t_logits, schedule["teacher_temp"])
                self.dino_loss.update_center(t_logits)
                if masks is not None and ibot_loss is not None:  # masks exist exactly when iBOT is on
                    t_patch_logits = teacher.patch_head(t_patches[masks])  # (M, K')
                    t_patch_probs = ibot_loss.teacher_probs(t_patch_logits, schedule["teacher_temp"])
                    ibot_loss.update_center(t_patch_logits)
            s_cls, s_patches = self.student_backbone(global_crops, masks)  # (2B, D), (2B, N, D)
            if local_crops.shape[0]:
                s_local, _ = self.student_backbone(local_crops)  # (L*B, D)
                s_cls = torch.cat([s_cls, s_local])  # (2B + L*B, D)
            s_logits = student.dino_head(s_cls)  # ((2 + L) * B, K)
            views = 2 + config.local_crops
            loss = out["dino_loss"] = self.dino_loss(list(s_logits.chunk(views)), list(t_probs.chunk(2)))
            if config.koleo_loss_weight > 0:
                # per global view, as DINOv2: a crop is not pushed away from its twin of the same image
                view_0, view_1 = s_cls[:n_global].chunk(2)  # (B, D) each
                koleo = koleo_loss(view_0) + koleo_loss(view_1)
                out["koleo_loss"] = koleo
                loss = loss + config.koleo_loss_weight * koleo
            if masks is not None and ibot_loss is not None:
                s_patch_logits = student.patch_head(s_patches[masks])  # (M, K')
                out["ibot_loss"] = ibot_loss(s_patch_logits, t_patch_probs, masks)
                loss = loss + config.ibot_loss_weight * out["ibot_loss"]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # DINOv2 clips each student part (backbone, heads) separately; clip_grad <= 0 only measures.
        max_norm = config.clip_grad if config.clip_grad > 0 else math.inf
        norms = [
            nn.utils.clip_grad_norm_([p for p in part.parameters() if p.grad is not None], max_norm)
            for part in student.children()
        ]
        self.optimizer.step()
        update_teacher(teacher, student, schedule["momentum"])
        out["loss"] = loss.detach()
        out["grad_norm_backbone"] = norms[0]
        return {k: v.detach() for k, v in out.items()}
