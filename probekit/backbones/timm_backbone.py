"""Backbones built by timm, speaking timm's `forward_intermediates` contract and nothing model-specific."""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from probekit.backbones.base import Backbone, LayerFeatures
from probekit.backbones.hub import hub_cached_file, offline_error, preflight_hub_weights
from probekit.backbones.spec import RANDOM_INIT, BackboneSpec, random_init_id
from probekit.backbones.timm_maps import TimmMapBackbone, is_vit, timm_preprocessing
from probekit.backbones.weights import load_weights_file, sha256_file
from probekit.errors import BackboneError, ProbekitError

# timm's ViTs (VisionTransformer, Eva, ...) share the attributes used here by duck typing, not by a common type.
TimmModel = Any


class TimmBackbone(Backbone):
    """A frozen timm ViT (VisionTransformer, Eva/DINOv3, ...) with any input size that is a multiple of the patch."""

    pos_embed_resample = "timm resample_abs_pos_embed: bicubic, antialias=True, per input size"
    model: TimmModel

    def __init__(self, name: str, model_name: str, model: TimmModel, weights_id: str, weights_source: str):
        super().__init__()
        self.name = name
        self.model_name = model_name
        self.model = model.eval().requires_grad_(False)
        patch = model.patch_embed.patch_size
        if patch[0] != patch[1]:
            raise BackboneError(f"{name}: non-square patches {patch} are not supported")
        self.patch_size = int(patch[0])
        self.embed_dim = int(model.embed_dim)
        self.depth = len(model.blocks)
        self.num_prefix_tokens = int(model.num_prefix_tokens)
        has_cls = getattr(model, "cls_token", None) is not None
        self.num_registers = self.num_prefix_tokens - int(has_cls)
        if has_cls:
            self.global_source = "cls"
        elif getattr(model, "attn_pool", None) is not None:
            self.global_source = "attn_pool"
        else:
            self.global_source = "mean"
        self.preprocessing = timm_preprocessing(model)
        self.weights_id = weights_id
        self.weights_source = weights_source

    @torch.inference_mode()
    def forward_layers(self, x: torch.Tensor, layers: list[int], norm: bool) -> dict[int, LayerFeatures]:
        B, _, H, W = x.shape
        if H % self.patch_size or W % self.patch_size:
            raise BackboneError(f"input {H}x{W} is not a multiple of the patch size {self.patch_size}")
        h, w = H // self.patch_size, W // self.patch_size
        outputs = self.model.forward_intermediates(
            x,
            indices=layers,
            norm=norm,
            output_fmt="NLC",
            intermediates_only=True,
            return_prefix_tokens=True,
            stop_early=True,
        )
        features = {}
        for layer, output in zip(layers, outputs, strict=True):
            patches, prefix = output if isinstance(output, tuple) else (output, None)  # (B, h*w, D), (B, P, D)
            features[layer] = LayerFeatures(
                cls=self._global(patches, prefix, norm),
                mean=patches.mean(dim=1),
                patch=patches.reshape(B, h, w, -1),
            )
        return features

    def _global(self, patches: torch.Tensor, prefix: torch.Tensor | None, normed: bool) -> torch.Tensor:
        """CLS token, or the attention-pool output (SigLIP), or the patch mean: see `global_source`."""
        if self.global_source == "cls":
            assert prefix is not None  # a CLS model returns its prefix tokens
            return prefix[:, 0]  # (B, D)
        if self.global_source == "attn_pool":
            tokens = patches if prefix is None else torch.cat([prefix, patches], dim=1)  # (B, N, D)
            # timm's pooled output is forward_head(norm(tokens), pre_logits=True); the pool was
            # trained on normed tokens, so un-normed layers are normed before pooling.
            tokens = tokens if normed else self.model.norm(tokens)
            pooled: torch.Tensor = self.model.forward_head(tokens, pre_logits=True)  # (B, D)
            return pooled
        return patches.mean(dim=1)


def build_timm_backbone(
    spec: BackboneSpec, weights: Path | None = None, random_init: bool = False, seed: int = 0
) -> Backbone:
    """Create the timm model of `spec` with hub weights, a local file, or seeded random weights."""
    import timm

    kwargs = _model_kwargs(timm, spec)
    if weights is not None:
        model = _create(timm, spec, kwargs, pretrained=False)
        load_weights_file(model, Path(weights))
        return _wrap(spec.name, spec.model, model, sha256_file(Path(weights)), f"file:{Path(weights).resolve()}")
    if random_init:
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG state
            torch.manual_seed(seed)
            model = _create(timm, spec, kwargs, pretrained=False)
        return _wrap(spec.name, spec.model, model, random_init_id(seed), RANDOM_INIT)
    if not spec.has_weights:
        raise BackboneError(f"{spec.name} is a config without pretrained weights: add --random-init or --weights FILE")
    if spec.bundled_weights:
        return _from_bundle(timm, spec, kwargs)
    return _from_hub(timm, spec, kwargs)


def _wrap(name: str, model_name: str, model: TimmModel, weights_id: str, weights_source: str) -> Backbone:
    """A ViT read token by token (TimmBackbone), or any other timm model read stage by stage (TimmMapBackbone)."""
    kind = TimmBackbone if is_vit(model) else TimmMapBackbone
    return kind(name, model_name, model, weights_id, weights_source)


def _model_kwargs(timm: ModuleType, spec: BackboneSpec) -> dict[str, Any]:
    """The spec's arguments, no classifier, and timm's `dynamic_img_size` (any input size) where the model takes it:
    ViTs and Swin do; convolutional models need no such switch (and reject it)."""
    kwargs = dict(spec.kwargs, num_classes=0)
    try:
        _create(timm, spec, dict(kwargs, dynamic_img_size=True), pretrained=False, device="meta")
    except BackboneError as error:
        if "dynamic_img_size" not in str(error):
            raise
        return kwargs
    return dict(kwargs, dynamic_img_size=True)


def bundled_weights_path(spec: BackboneSpec) -> Path:
    """The weights file shipped inside the package for `spec` (probekit/weights/<file>)."""
    return Path(__file__).resolve().parent.parent / "weights" / str(spec.bundled_weights)


def _from_bundle(timm: ModuleType, spec: BackboneSpec, kwargs: dict[str, Any]) -> Backbone:
    path = bundled_weights_path(spec)
    if not path.is_file():
        raise BackboneError(
            f"{spec.name}: its bundled weights {path} are missing; reinstall probekit (pip install -e .)"
        )
    model = _create(timm, spec, kwargs, pretrained=False)
    load_weights_file(model, path)
    return _wrap(spec.name, spec.model, model, sha256_file(path), f"bundled:{path.name}")


def _from_hub(timm: ModuleType, spec: BackboneSpec, kwargs: dict[str, Any]) -> Backbone:
    skeleton = _create(timm, spec, kwargs, pretrained=False, device="meta")
    repo = skeleton.pretrained_cfg.get("hf_hub_id")
    preflight_hub_weights(spec.name, spec.model, repo)
    try:
        model = _create(timm, spec, kwargs, pretrained=True)
    except ProbekitError:
        raise
    except Exception as error:
        reason = f"download failed ({type(error).__name__})"
        raise offline_error(spec.name, spec.model, reason) from None
    cached = hub_cached_file(repo)
    weights_id = sha256_file(cached) if cached is not None else "unknown"
    cfg = model.pretrained_cfg
    model_name = f"{cfg.get('architecture', spec.model)}.{cfg['tag']}" if cfg.get("tag") else spec.model
    return _wrap(spec.name, model_name, model, weights_id, f"hub:{model.pretrained_cfg.get('hf_hub_id') or spec.model}")


def _create(
    timm: ModuleType, spec: BackboneSpec, kwargs: dict[str, Any], pretrained: bool, device: str | None = None
) -> TimmModel:
    try:
        with torch.device(device) if device else contextlib.nullcontext():
            return timm.create_model(spec.model, pretrained=pretrained, **kwargs)
    except TypeError as error:
        raise BackboneError(f"{spec.name}: timm model {spec.model} rejects its arguments: {error}") from None
