"""The `pixels` baseline: each patch's raw normalised RGB values as its feature vector.

A table that shows how far an encoder is above trivial features needs this row: anything a
linear probe reads off raw patches is not to an encoder's credit.
"""

from __future__ import annotations

from pathlib import Path

import torch

from probekit.backbones.base import Backbone, LayerFeatures, Preprocessing
from probekit.backbones.spec import BackboneSpec
from probekit.errors import BackboneError


class PixelsBackbone(Backbone):
    """One 'layer' whose patch features are the flattened (3, P, P) pixels of each patch."""

    depth = 1
    num_registers = 0
    global_source = "mean"
    pos_embed_resample = "none"
    weights_id = "none"
    weights_source = "none"

    def __init__(self, name: str, patch_size: int):
        super().__init__()
        self.name = name
        self.model_name = f"pixels-p{patch_size}"
        self.patch_size = patch_size
        self.embed_dim = 3 * patch_size * patch_size
        self.preprocessing = Preprocessing(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))

    @torch.inference_mode()
    def forward_layers(self, x: torch.Tensor, layers: list[int], norm: bool) -> dict[int, LayerFeatures]:
        B, C, H, W = x.shape
        P = self.patch_size
        if H % P or W % P:
            raise BackboneError(f"input {H}x{W} is not a multiple of the patch size {P}")
        h, w = H // P, W // P
        patch = x.reshape(B, C, h, P, w, P).permute(0, 2, 4, 1, 3, 5).reshape(B, h, w, C * P * P)  # (B, h, w, 3*P*P)
        mean = patch.mean(dim=(1, 2))  # (B, 3*P*P)
        return {layer: LayerFeatures(cls=mean, mean=mean, patch=patch) for layer in layers}


def build_pixels_backbone(
    spec: BackboneSpec, weights: Path | None = None, random_init: bool = False, seed: int = 0
) -> PixelsBackbone:
    if weights is not None:
        raise BackboneError(f"{spec.name} has no weights: drop --weights")
    return PixelsBackbone(spec.name, int(spec.kwargs.get("patch_size", 16)))
