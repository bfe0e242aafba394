"""The one contract every backbone speaks: per chosen layer, a global vector, the patch mean and the patch grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class LayerFeatures:
    """Features of one layer for a batch.

    `cls` is the model's global token: the CLS token where the model has one, otherwise what
    `Backbone.global_source` names (SigLIP's attention-pool output, or the patch mean).
    """

    cls: torch.Tensor  # (B, D)
    mean: torch.Tensor  # (B, D) mean over patch tokens, register tokens excluded
    patch: torch.Tensor  # (B, h, w, D)


@dataclass(frozen=True)
class Preprocessing:
    """How images must be prepared for this backbone (from its pretrained config)."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"


class Backbone(nn.Module):
    """A frozen encoder. Subclasses set the attributes and implement `forward_layers`."""

    name: str
    model_name: str
    patch_size: int
    embed_dim: int
    depth: int  # number of blocks; layer indices are 0 .. depth-1
    num_registers: int
    global_source: str  # 'cls' | 'attn_pool' | 'mean'
    preprocessing: Preprocessing
    weights_id: str  # sha256 of the weights file, or 'random-init(seed=N)', or 'none'
    weights_source: str  # 'hub:<id>' | 'file:<path>' | 'random-init' | 'none'
    pos_embed_resample: str
    hierarchical = False  # True: layers differ in width and stride (stages of a ConvNeXt, ResNet, Swin, ...)

    def forward_layers(self, x: torch.Tensor, layers: list[int], norm: bool) -> dict[int, LayerFeatures]:
        """x: (B, 3, H, W) preprocessed images, H and W multiples of the patch size."""
        raise NotImplementedError

    def grid_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        return image_size[0] // self.patch_size, image_size[1] // self.patch_size

    def layer_dim(self, layer: int) -> int:
        """Channels of a layer's features (a ViT's are all `embed_dim`)."""
        return self.embed_dim

    def layer_stride(self, layer: int) -> int:
        """Image pixels per grid cell of a layer (a ViT's are all `patch_size`)."""
        return self.patch_size

    def layer_grid(self, layer: int, image_size: tuple[int, int]) -> tuple[int, int]:
        """(h, w) of a layer's patch grid at `image_size`."""
        stride = self.layer_stride(layer)
        return image_size[0] // stride, image_size[1] // stride

    def describe(self) -> dict[str, Any]:
        """Provenance recorded with every feature store."""
        return {
            "backbone": self.name,
            "backbone_model": self.model_name,
            "weights_sha256": self.weights_id,
            "weights_source": self.weights_source,
            "patch_size": self.patch_size,
            "embed_dim": self.embed_dim,
            "depth": self.depth,
            "num_registers": self.num_registers,
            "global_source": self.global_source,
            "pixel_mean": list(self.preprocessing.mean),
            "pixel_std": list(self.preprocessing.std),
            "interpolation": self.preprocessing.interpolation,
            "pos_embed_resample": self.pos_embed_resample,
        }
