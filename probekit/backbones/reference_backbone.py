"""`--impl reference`: the weights of a built backbone, run by probekit's own from-scratch ViT.

The backbone is built exactly as for `--impl timm` (hub, local file or seeded random init); its state
dict is then loaded into `probekit.models.vit.ViT`, which resamples positions the way the source does.
Features equal the source's within float32 rounding (measured: <= 1e-5 against timm and transformers),
so `impl` is recorded with the store but is not part of the features fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from probekit.backbones.base import Backbone, LayerFeatures
from probekit.errors import BackboneError
from probekit.models.convert import reference_from_hf, reference_from_timm
from probekit.models.vit import ViT
from probekit.registry import Registry

# How to get a reference ViT out of each kind of built backbone, by class name.
REFERENCE_SOURCES: Registry[Callable[[Backbone], ViT]] = Registry("backbone to reimplement", BackboneError)
REFERENCE_SOURCES.register("TimmBackbone", lambda backbone: reference_from_timm(_wrapped(backbone), "timm"))
REFERENCE_SOURCES.register("HfBackbone", lambda backbone: reference_from_hf(_wrapped(backbone)))


def _wrapped(backbone: Backbone) -> nn.Module:
    """The library model a built backbone runs (its `model`)."""
    model = backbone.model
    assert isinstance(model, nn.Module)  # every backbone REFERENCE_SOURCES names keeps one
    return model


class ReferenceBackbone(Backbone):
    """The `Backbone` contract over `probekit.models.vit.ViT`, carrying over the source's identity."""

    impl = "reference"

    def __init__(self, source: Backbone, model: ViT):
        super().__init__()
        for attribute in (
            "name",
            "model_name",
            "patch_size",
            "embed_dim",
            "depth",
            "num_registers",
            "preprocessing",
            "weights_id",
            "weights_source",
        ):
            setattr(self, attribute, getattr(source, attribute))
        if model.global_source != source.global_source:
            raise BackboneError(
                f"{source.name}: reference global {model.global_source} differs from the "
                f"source's {source.global_source}: use --impl timm"
            )
        self.global_source = model.global_source
        self.source_impl = getattr(source, "impl", "timm")
        self.model = model.eval().requires_grad_(False)
        # The reference resamples as its source does (checked by the parity tests), so it records the
        # source's note: `pos_embed_resample` is a fingerprint key and the features are the same.
        self.pos_embed_resample = source.pos_embed_resample

    @torch.inference_mode()
    def forward_layers(self, x: torch.Tensor, layers: list[int], norm: bool) -> dict[int, LayerFeatures]:
        _, _, H, W = x.shape
        if H % self.patch_size or W % self.patch_size:
            raise BackboneError(f"input {H}x{W} is not a multiple of the patch size {self.patch_size}")
        grid = (H // self.patch_size, W // self.patch_size)
        outputs = self.model.forward_intermediates(x, layers, norm=norm)  # each (B, prefix + h*w, D)
        features = {}
        for layer, tokens in zip(sorted(layers), outputs, strict=True):
            out = self.model.features(tokens, grid, normed=norm)
            features[layer] = LayerFeatures(cls=out.global_, mean=out.mean, patch=out.patch)
        return features

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "impl": self.impl,
            "impl_source": self.source_impl,
            "reference_pos_resample": self.model.cfg.pos_resample,
        }


def to_reference(backbone: Backbone) -> ReferenceBackbone:
    """The same weights in the reference ViT (`--impl reference`)."""
    kind = type(backbone).__name__
    if kind not in REFERENCE_SOURCES:
        raise BackboneError(f"{backbone.name} is not a ViT the reference implements (it is a {kind}): use --impl timm")
    return ReferenceBackbone(backbone, REFERENCE_SOURCES.get(kind)(backbone))
