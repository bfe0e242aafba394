"""State-dict layouts onto the reference ViT: timm's (its native names), Meta DINOv2's and transformers'.

The reference ViT's parameter names are timm's, so every layout is first brought to timm's:
Meta DINOv2 by timm's own `checkpoint_filter_fn` (as `probekit.backbones.weights` does), transformers'
`Dinov2Model` / `Dinov2WithRegistersModel` / `SiglipVisionModel` by `hf_to_timm` below.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, cast

import torch
from torch import nn

from probekit.errors import BackboneError, WeightsError
from probekit.models.configs import hf_family, hf_vision_config, vit_config_from_timm
from probekit.models.state_dict import state_dict_mismatch
from probekit.models.vit import POS_RESAMPLERS, ViT, ViTConfig, resample_pos_embed

# timm keys the reference ViT has no use for: the classifier and what sits between pool and classifier.
_HEAD_KEYS = re.compile(r"^(head|head_drop|fc_norm)\.")


def load_timm_state_dict(model: ViT, state: Mapping[str, torch.Tensor]) -> ViT:
    """Load a timm-layout state dict; every reference parameter must be there with its shape."""
    state = {k: v for k, v in state.items() if not _HEAD_KEYS.match(k)}
    if model.attn_pool is None:  # timm keeps SigLIP's pool weights even when the pool is off
        state = {k: v for k, v in state.items() if not k.startswith("attn_pool.")}
    problems = state_dict_mismatch(model, dict(state))
    if problems:
        raise WeightsError(f"state dict does not fit the reference ViT: {problems}; is it the right architecture?")
    model.load_state_dict(state)
    return model


def reference_from_timm(timm_model: nn.Module, pos_resample: str = "timm") -> ViT:
    """A reference ViT with the config and the weights of a built timm VisionTransformer, in eval mode."""
    model = ViT(vit_config_from_timm(timm_model, pos_resample))
    return load_timm_state_dict(model, timm_model.state_dict()).eval()


def meta_dinov2_to_timm(state: Mapping[str, torch.Tensor], timm_model: nn.Module) -> dict[str, torch.Tensor]:
    """Meta's DINOv2 layout (hub .pth) -> timm's, with timm's own converter for the target model.

    Handles mask_token, register tokens (cls gets its position folded in: timm's reg4 models put no
    position on prefix tokens) and resamples the table to the model's grid.
    """
    convert = getattr(sys.modules[type(timm_model).__module__], "checkpoint_filter_fn", None)
    if convert is None:
        raise WeightsError(f"timm has no checkpoint converter for {type(timm_model).__name__}")
    converted: dict[str, torch.Tensor] = convert(dict(state), timm_model)
    return converted


def reference_from_state(state: Mapping[str, torch.Tensor], config: ViTConfig) -> ViT:
    """A reference ViT of `config` loaded from a timm-layout state dict."""
    return load_timm_state_dict(ViT(config), state).eval()


# ---------------------------------------------------------------------------------------------
# transformers -> timm

# Per-block renames, new (transformers >= 5) and old (4.x) names alike; q/k/v are fused separately.
_HF_BLOCK_RENAMES = {
    # DINOv2
    "norm1": "norm1",
    "norm2": "norm2",
    "attention.o_proj": "attn.proj",
    "attention.output.dense": "attn.proj",
    "layer_scale1.lambda1": "ls1.gamma",
    "layer_scale2.lambda1": "ls2.gamma",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
    # SigLIP
    "layer_norm1": "norm1",
    "layer_norm2": "norm2",
    "self_attn.out_proj": "attn.proj",
}
# q, k, v projections of one block, by layout: (prefix of q, k, v).
_HF_QKV = (
    ("attention.q_proj", "attention.k_proj", "attention.v_proj"),  # DINOv2, transformers 5
    ("attention.attention.query", "attention.attention.key", "attention.attention.value"),  # DINOv2, transformers 4
    ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),  # SigLIP
)
_HF_BLOCK = re.compile(r"^encoder\.(?:layer|layers)\.(\d+)\.(.+)\.(weight|bias|lambda1)$")


def _strip_prefixes(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the wrappers full models put around the vision tower's keys."""
    state = dict(state)
    for prefix in ("vision_model.", "dinov2."):
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return state


def hf_to_timm(state: Mapping[str, torch.Tensor], config: Any) -> dict[str, torch.Tensor]:
    """A transformers DINOv2 / DINOv2-with-registers / SigLIP vision state dict in timm's layout.

    q, k and v are fused into `attn.qkv`; `layer_scale*.lambda1` -> `ls*.gamma`; `mask_token` is dropped
    (masking is for training); SigLIP's head (nn.MultiheadAttention) becomes timm's `attn_pool`; with
    registers, CLS gets its position folded in and the table keeps the patch rows only, as timm's reg4
    models (which put no position on prefix tokens) expect.
    """
    config = hf_vision_config(config)
    family = hf_family(config)
    state = _strip_prefixes(state)
    out: dict[str, torch.Tensor] = {}
    blocks: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if match := _HF_BLOCK.match(key):
            index, name, kind = int(match[1]), match[2], match[3]
            blocks.setdefault(index, {})[f"{name}.{kind}"] = value
    for index, params in sorted(blocks.items()):
        out.update(_hf_block(index, params))

    if family.model_type == "siglip_vision_model":
        out["patch_embed.proj.weight"] = state["embeddings.patch_embedding.weight"]
        out["patch_embed.proj.bias"] = state["embeddings.patch_embedding.bias"]
        out["pos_embed"] = state["embeddings.position_embedding.weight"][None]  # (1, h*w, D)
        out["norm.weight"], out["norm.bias"] = state["post_layernorm.weight"], state["post_layernorm.bias"]
        if "head.probe" in state:
            out.update(_hf_map_head(state))
        return out

    out["patch_embed.proj.weight"] = state["embeddings.patch_embeddings.projection.weight"]
    out["patch_embed.proj.bias"] = state["embeddings.patch_embeddings.projection.bias"]
    out["norm.weight"], out["norm.bias"] = state["layernorm.weight"], state["layernorm.bias"]
    pos = state["embeddings.position_embeddings"]  # (1, 1 + h*w, D), row 0 is CLS's
    if "embeddings.register_tokens" in state:
        out["cls_token"] = state["embeddings.cls_token"] + pos[:, :1]  # (1, 1, D)
        out["reg_token"] = state["embeddings.register_tokens"]  # (1, R, D)
        out["pos_embed"] = pos[:, 1:]  # (1, h*w, D)
    else:
        out["cls_token"] = state["embeddings.cls_token"]
        out["pos_embed"] = pos
    return out


def _hf_block(index: int, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    prefix = f"blocks.{index}."
    out = {}
    for q, k, v in _HF_QKV:
        if f"{q}.weight" in params:
            out[prefix + "attn.qkv.weight"] = torch.cat([params.pop(f"{n}.weight") for n in (q, k, v)])  # (3D, D)
            if f"{q}.bias" in params:
                out[prefix + "attn.qkv.bias"] = torch.cat([params.pop(f"{n}.bias") for n in (q, k, v)])  # (3D,)
    for name, value in params.items():
        stem, kind = name.rsplit(".", 1)
        stem = f"{stem}.{kind}" if kind == "lambda1" else stem
        if stem not in _HF_BLOCK_RENAMES:
            raise WeightsError(f"unknown transformers block parameter {name!r}: not a DINOv2/SigLIP ViT layout")
        target = _HF_BLOCK_RENAMES[stem]
        out[prefix + (target if kind == "lambda1" else f"{target}.{kind}")] = value
    return out


def _hf_map_head(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """SigLIP's pooling head (probe + nn.MultiheadAttention + LayerNorm + MLP) -> timm's AttentionPoolLatent."""
    D = state["head.probe"].shape[-1]
    w, b = state["head.attention.in_proj_weight"], state["head.attention.in_proj_bias"]  # (3D, D), (3D,)
    return {
        "attn_pool.latent": state["head.probe"],  # (1, 1, D)
        "attn_pool.q.weight": w[:D],
        "attn_pool.q.bias": b[:D],  # query rows
        "attn_pool.kv.weight": w[D:],
        "attn_pool.kv.bias": b[D:],  # key then value rows
        "attn_pool.proj.weight": state["head.attention.out_proj.weight"],
        "attn_pool.proj.bias": state["head.attention.out_proj.bias"],
        "attn_pool.norm.weight": state["head.layernorm.weight"],
        "attn_pool.norm.bias": state["head.layernorm.bias"],
        "attn_pool.mlp.fc1.weight": state["head.mlp.fc1.weight"],
        "attn_pool.mlp.fc1.bias": state["head.mlp.fc1.bias"],
        "attn_pool.mlp.fc2.weight": state["head.mlp.fc2.weight"],
        "attn_pool.mlp.fc2.bias": state["head.mlp.fc2.bias"],
    }


def timm_from_hf(hf_model: nn.Module) -> nn.Module:
    """A timm VisionTransformer holding a transformers vision model's weights (eval mode, any input size)."""
    import timm

    from probekit.models.configs import timm_kwargs_from_hf

    name, kwargs = timm_kwargs_from_hf(hf_model.config)
    model = timm.create_model(name, pretrained=False, num_classes=0, dynamic_img_size=True, **kwargs)
    state = hf_to_timm(hf_model.state_dict(), hf_model.config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise WeightsError(
            f"converted transformers weights do not fit timm {name}: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    return model.eval()


def hf_pos_resample(hf_model: nn.Module) -> str:
    """Which of POS_RESAMPLERS the installed transformers' `interpolate_pos_encoding` is, found by running it.

    transformers has changed this over versions (scale factors with a 0.1 offset, then sizes; antialias
    for the registers model only), so the answer is measured, not assumed; a new variant is an error.
    """
    from probekit.models.configs import hf_num_prefix

    embeddings: Any = hf_vision_tower(hf_model).embeddings  # a transformers embeddings module, duck-typed
    table = hf_to_timm(hf_model.state_dict(), hf_model.config)["pos_embed"]  # (1, [1 +] gh*gw, D)
    side = math.isqrt(table.shape[1])
    rows = table.shape[1] - side * side  # 1 when CLS's position is in the table
    prefix = min(hf_num_prefix(hf_model.config), 1)  # HF adds positions before inserting registers
    patch = _hf_patch_size(hf_model.config)
    found = None
    for grid in ((side - 1, side + 2), (side + 3, max(side - 2, 1))):  # one shrinking, one growing side each
        tokens = torch.zeros(1, prefix + grid[0] * grid[1], table.shape[-1])
        with torch.no_grad():
            theirs = embeddings.interpolate_pos_encoding(tokens, grid[0] * patch, grid[1] * patch)[:, prefix:]
        ours = {mode: resample_pos_embed(table[:, rows:], (side, side), grid, mode) for mode in POS_RESAMPLERS}
        matches = {mode for mode, pos in ours.items() if torch.allclose(pos, theirs, atol=1e-5, rtol=0)}
        found = matches if found is None else found & matches
    if not found:
        raise BackboneError(
            f"transformers {type(hf_model).__name__} resamples positions in a way the reference ViT "
            f"does not implement: use --impl timm"
        )
    return sorted(found)[0]


def hf_vision_tower(model: nn.Module) -> nn.Module:
    """SiglipModel (text + vision) keeps the image encoder in `vision_model` (nested twice in transformers 4)."""
    while hasattr(model, "vision_model"):
        model = cast(nn.Module, model.vision_model)  # a submodule, never a tensor
    return model


def _hf_patch_size(config: Any) -> int:
    value = hf_vision_config(config).patch_size
    return int(value[0] if isinstance(value, (list, tuple)) else value)


def reference_from_hf(hf_model: nn.Module) -> ViT:
    """A reference ViT holding a transformers vision model's weights, resampling positions as that model does."""
    from probekit.models.configs import vit_config_from_hf

    config = replace(vit_config_from_hf(hf_model.config), pos_resample=hf_pos_resample(hf_model))
    return reference_from_state(hf_to_timm(hf_model.state_dict(), hf_model.config), config)
