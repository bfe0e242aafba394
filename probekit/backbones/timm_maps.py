"""Backbones with feature maps instead of tokens (ConvNeXt, ResNet, EfficientNet, Swin, RegNet, ... in timm).

The "layers" are the model's feature stages, as timm lists them in `model.feature_info` (the indices that
`forward_intermediates` takes): stage k has its own channel count D_k and stride s_k, so its map is the
patch grid (H / s_k, W / s_k) of that layer. The global vector is the map's average over its cells
(`global_source = "avgpool"`): `cls` and `mean` hold the same vector, timm's `global_pool="avg"` before any
head norm. Maps come from timm's `forward_intermediates`; a model without it is read through forward hooks on
the `feature_info` modules, as timm's `features_only=True, feature_cls="hook"` does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from probekit.backbones.base import Backbone, LayerFeatures, Preprocessing
from probekit.errors import BackboneError

GLOBAL_SOURCE = "avgpool"


def timm_preprocessing(model: Any) -> Preprocessing:
    """The mean, std and interpolation of a timm model's pretrained config (ImageNet's and bicubic where unset)."""
    cfg = model.pretrained_cfg
    return Preprocessing(
        mean=tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
        std=tuple(cfg.get("std", (0.229, 0.224, 0.225))),
        interpolation=cfg.get("interpolation", "bicubic"),
    )


class TimmMapBackbone(Backbone):
    """A frozen timm model read stage by stage; any input size that is a multiple of its total stride."""

    num_registers = 0
    global_source = GLOBAL_SOURCE
    hierarchical = True

    def __init__(self, name: str, model_name: str, model: Any, weights_id: str, weights_source: str):
        super().__init__()
        info = getattr(model, "feature_info", None)
        if not info:
            raise BackboneError(
                f"{name}: timm model {model_name} has neither ViT blocks nor feature_info stages; "
                f"choose a ViT or a model that timm can create with features_only=True"
            )
        self.name = name
        self.model_name = model_name
        self.model = model.eval().requires_grad_(False)
        stages = list(info.get_dicts()) if hasattr(info, "get_dicts") else list(info)
        self.stage_dims = [int(stage["num_chs"]) for stage in stages]
        self.strides = [int(stage["reduction"]) for stage in stages]
        self.stage_modules = [str(stage["module"]) for stage in stages]
        self.depth = len(stages)
        self.patch_size = max(self.strides)  # the total stride: input sides must be multiples of it
        self.embed_dim = self.stage_dims[-1]
        self.pos_embed_resample = _resample_note(model)
        self.preprocessing = timm_preprocessing(model)
        self.weights_id = weights_id
        self.weights_source = weights_source

    def layer_dim(self, layer: int) -> int:
        return self.stage_dims[layer]

    def layer_stride(self, layer: int) -> int:
        return self.strides[layer]

    def describe(self) -> dict[str, Any]:
        """Provenance; `patch_size` is the total stride, `strides` and `stage_dims` every stage's."""
        return {**super().describe(), "strides": list(self.strides), "stage_dims": list(self.stage_dims)}

    @torch.inference_mode()
    def forward_layers(self, x: torch.Tensor, layers: list[int], norm: bool) -> dict[int, LayerFeatures]:
        _, _, H, W = x.shape
        if H % self.patch_size or W % self.patch_size:
            raise BackboneError(f"input {H}x{W} is not a multiple of the total stride {self.patch_size} of {self.name}")
        maps = self.feature_maps(x, layers, norm)
        features = {}
        for layer, fmap in zip(layers, maps, strict=True):
            expected = (self.stage_dims[layer], H // self.strides[layer], W // self.strides[layer])
            if tuple(fmap.shape[1:]) != expected:
                raise BackboneError(
                    f"{self.name}: stage {layer} gave a {tuple(fmap.shape[1:])} map, not (D, h, w) = {expected}"
                )
            patch = fmap.permute(0, 2, 3, 1)  # (B, D, h, w) -> (B, h, w, D)
            pooled = fmap.mean(dim=(2, 3))  # (B, D) global average pool
            features[layer] = LayerFeatures(cls=pooled, mean=pooled, patch=patch)
        return features

    def feature_maps(self, x: torch.Tensor, layers: list[int], norm: bool) -> list[torch.Tensor]:
        """(B, D_k, h_k, w_k) per chosen stage: timm's forward_intermediates, else hooks on feature_info modules."""
        if hasattr(self.model, "forward_intermediates"):
            maps: list[torch.Tensor] = self.model.forward_intermediates(
                x, indices=layers, norm=norm, output_fmt="NCHW", intermediates_only=True, stop_early=True
            )
            return maps
        if norm:
            raise BackboneError(f"{self.name}: timm model has no forward_intermediates, so --norm cannot be applied")
        return hooked_maps(self.model, [self.stage_modules[k] for k in layers], x)


def hooked_maps(model: nn.Module, modules: list[str], x: torch.Tensor) -> list[torch.Tensor]:
    """The outputs of the named modules during `model.forward_features(x)`, in the order named."""
    outputs: dict[str, torch.Tensor] = {}
    named = dict(model.named_modules())
    handles = [
        named[name].register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out))
        for name in modules
    ]
    forward = getattr(model, "forward_features")  # noqa: B009 - every timm model has it; nn.Module does not say so
    try:
        forward(x)
    finally:
        for handle in handles:
            handle.remove()
    return [outputs[name] for name in modules]


def _resample_note(model: nn.Module) -> str:
    """How the model adapts to other input sizes (recorded, as the ViTs' pos-embed resampling is)."""
    if hasattr(model, "patch_embed"):  # Swin & co.: windows and relative position biases, timm's dynamic size
        return "timm dynamic_img_size (windowed attention)"
    return "none (convolutional)"


def is_vit(model: Any) -> bool:
    """A timm ViT (VisionTransformer, Eva, ...): patch tokens from `patch_embed`, a stack of `blocks`."""
    return hasattr(model, "patch_embed") and hasattr(model, "blocks") and hasattr(model, "num_prefix_tokens")
