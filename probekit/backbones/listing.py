"""The table behind `probekit backbones`: architecture facts and whether weights are on this machine."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from probekit.backbones.base import Backbone
from probekit.backbones.build import build_backbone
from probekit.backbones.hub import hub_cached_file
from probekit.backbones.spec import BACKBONES, BackboneSpec


@dataclass(frozen=True)
class BackboneRow:
    name: str
    model: str
    patch_size: int
    strides: (
        str  # the grid stride of each layer: the patch size of a ViT ('14'), per stage for feature maps ('4,8,16,32')
    )
    embed_dim: int
    depth: int
    params_m: float
    weights: str  # 'bundled' | 'cached' | 'not cached' | 'none (random/test only)' | 'n/a'
    description: str


def backbone_rows(include_test: bool = False) -> list[BackboneRow]:
    """One row per registered alias; models are built on the meta device, so no memory or weights are needed."""
    rows = []
    for name, spec in BACKBONES.items():
        if spec.test_only and not include_test:
            continue
        with torch.device("meta"):
            backbone = build_backbone(name, random_init=True)
        params = sum(p.numel() for p in backbone.parameters()) / 1e6
        rows.append(
            BackboneRow(
                name,
                spec.model,
                backbone.patch_size,
                _strides(backbone),
                backbone.embed_dim,
                backbone.depth,
                round(params, 1),
                _weights_status(spec),
                spec.description,
            )
        )
    return rows


def _strides(backbone: Backbone) -> str:
    """The stride of each layer's grid: one number when every layer shares it (ViTs), else per stage."""
    strides = [backbone.layer_stride(k) for k in range(backbone.depth)]
    return str(strides[0]) if len(set(strides)) == 1 else ",".join(map(str, strides))


def _weights_status(spec: BackboneSpec) -> str:
    if spec.builder != "timm":
        return "n/a"
    if not spec.has_weights:
        return "none (random-init only)"
    if spec.bundled_weights:
        return "bundled"
    return "cached" if hub_cached_file(f"timm/{spec.model}") else "not cached"
