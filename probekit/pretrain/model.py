"""Student and teacher networks: a timm ViT with a mask token, plus the DINO (and iBOT) heads."""

from __future__ import annotations

import copy
from typing import Any

import timm
import torch
from torch import nn

from probekit.pretrain.config import PretrainConfig, PretrainError
from probekit.pretrain.head import DINOHead


class MaskedViT(nn.Module):
    """A timm VisionTransformer whose patch tokens can be replaced by a learned mask token (iBOT).

    timm's ViT has no mask token, so this wrapper runs timm's own stages by hand and inserts one
    step, exactly where DINOv2's `prepare_tokens_with_masks` does: right after the patch embedding,
    before the CLS token and the position embedding are added, masked patch embeddings are swapped
    for `mask_token`. So a masked patch still carries its position. The wrapped model's keys
    (`vit.*`) are timm's layout; `mask_token` lives outside it and is not exported.
    """

    vit: Any  # a timm ViT, duck-typed (checked in __init__): its stages are run by hand in forward

    def __init__(self, vit: nn.Module):
        super().__init__()
        if getattr(vit, "cls_token", None) is None or getattr(vit, "num_prefix_tokens", 1) != 1:
            raise PretrainError("DINO pretraining needs a timm ViT with a CLS token and no register tokens")
        if not getattr(vit, "dynamic_img_size", False):
            raise PretrainError("build the timm ViT with dynamic_img_size=True (global and local crops differ in size)")
        self.vit = vit
        self.mask_token = nn.Parameter(torch.zeros(1, self.vit.embed_dim))  # DINOv2 initialises it at 0

    def forward(self, x: torch.Tensor, masks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W), masks (B, h*w) bool or None -> normed CLS (B, D) and patch tokens (B, h*w, D)."""
        vit = self.vit
        x = vit.patch_embed(x)  # (B, h, w, D): dynamic_img_size keeps the grid for pos-embed resampling
        if masks is not None:
            B, h, w, D = x.shape
            x = torch.where(masks.view(B, h, w, 1), self.mask_token.to(x.dtype).view(1, 1, 1, D), x)
        x = vit._pos_embed(x)  # (B, 1 + h*w, D): CLS prepended, pos-embed resampled to (h, w)
        x = vit.patch_drop(x)
        x = vit.norm_pre(x)
        x = vit.blocks(x)
        x = vit.norm(x)
        return x[:, 0], x[:, 1:]


def build_vit(config: PretrainConfig) -> nn.Module:
    """The timm backbone of `config` (random init; also what the exported weights load into)."""
    kwargs = config.timm_kwargs()
    if config.drop_path_rate:
        kwargs["drop_path_rate"] = config.drop_path_rate
    try:
        return timm.create_model(config.model, pretrained=False, **kwargs)
    except (RuntimeError, TypeError, ValueError) as error:
        raise PretrainError(f"timm cannot build {config.model} with {kwargs}: {error}".splitlines()[0]) from None


class DINONetwork(nn.Module):
    """Backbone + DINO head (+ iBOT head): the structure the student and the teacher share."""

    def __init__(self, config: PretrainConfig):
        super().__init__()
        self.backbone = MaskedViT(build_vit(config))
        dim = config.embed_dim

        def head(prototypes: int) -> DINOHead:
            return DINOHead(
                dim,
                prototypes,
                hidden_dim=config.head_hidden_dim,
                bottleneck_dim=config.head_bottleneck_dim,
                layers=config.head_layers,
                norm_last_layer=config.norm_last_layer,
            )

        self.dino_head = head(config.head_prototypes)
        self.ibot_head = None
        if config.ibot and config.ibot_separate_head:
            self.ibot_head = head(config.ibot_prototypes)

    @property
    def patch_head(self) -> DINOHead:
        """The head of masked patch tokens: its own (DINOv2 `separate_head`) or the DINO head."""
        return self.ibot_head if self.ibot_head is not None else self.dino_head


def build_student_teacher(config: PretrainConfig) -> tuple[DINONetwork, DINONetwork]:
    """Student and teacher with identical weights; the teacher never gets gradients (it is the student's EMA)."""
    student = DINONetwork(config)
    teacher = copy.deepcopy(student)
    teacher.requires_grad_(False)
    teacher.eval()  # no drop-path in the teacher (dinov2 SSLMetaArch.train keeps it in eval)
    return student, teacher
