"""`ViTConfig` from a built timm model or a transformers config: what the reference ViT must be to match it.

Both readers refuse, in one line, the architectures the reference does not implement (RoPE/DINOv3,
SwiGLU, qk-norm, EVA blocks, distillation tokens, ...), so `--impl reference` never silently differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from probekit.errors import BackboneError
from probekit.models.vit import ViTConfig
from probekit.registry import Registry

# Parameter-free activations, by the class name timm's MLPs use (nn.GELU is told apart by `approximate`).
_TIMM_ACTS = {"GELU": "gelu", "GELUTanh": "gelu_tanh", "QuickGELU": "quick_gelu"}
# transformers' `hidden_act` strings.
_HF_ACTS = {"gelu": "gelu", "gelu_pytorch_tanh": "gelu_tanh", "gelu_new": "gelu_tanh", "quick_gelu": "quick_gelu"}


def _timm_act(module: nn.Module) -> str | None:
    name = type(module).__name__
    if isinstance(module, nn.GELU):
        return "gelu_tanh" if module.approximate == "tanh" else "gelu"
    return _TIMM_ACTS.get(name)


def vit_config_from_timm(model: nn.Module, pos_resample: str = "timm") -> ViTConfig:
    """The reference config of a timm `VisionTransformer` (plain ViT, DeiT, DINOv2(+reg), CLIP, MAE, SigLIP)."""
    from timm.layers.attention import Attention
    from timm.layers.attention_pool import AttentionPoolLatent
    from timm.layers.mlp import Mlp
    from timm.models.vision_transformer import Block, VisionTransformer

    what = f"timm {type(model).__name__}"
    if type(model) is not VisionTransformer:
        raise BackboneError(
            f"{what}: the reference ViT implements timm's VisionTransformer only "
            f"(no RoPE/DINOv3, EVA or distilled models): use --impl timm"
        )
    patch = model.patch_embed.patch_size
    if patch[0] != patch[1] or getattr(model.patch_embed, "dynamic_img_pad", False):
        raise BackboneError(f"{what}: non-square or padded patches are not in the reference ViT: use --impl timm")
    first = model.blocks[0]
    for block in model.blocks:
        act = _timm_act(block.mlp.act) if type(block.mlp) is Mlp else None
        if (
            type(block) is not Block
            or type(block.attn) is not Attention
            or act is None
            or not isinstance(block.norm1, nn.LayerNorm)
            or getattr(block.attn, "gate", None) is not None
        ):
            raise BackboneError(
                f"{what}: its blocks (qk-norm, SwiGLU, gated or non-GELU MLP, non-LayerNorm) are "
                f"not in the reference ViT: use --impl timm"
            )
    pool = model.attn_pool
    if pool is not None and (
        type(pool) is not AttentionPoolLatent
        or pool.latent_len != 1
        or pool.pos_embed is not None
        or model.pool_include_prefix
    ):
        raise BackboneError(f"{what}: only SigLIP's one-query attention pool is in the reference ViT: use --impl timm")
    D = int(model.embed_dim)
    return ViTConfig(
        patch_size=int(patch[0]),
        embed_dim=D,
        depth=len(model.blocks),
        num_heads=int(first.attn.num_heads),
        mlp_ratio=first.mlp.fc1.out_features / D,
        qkv_bias=first.attn.qkv.bias is not None,
        class_token=model.cls_token is not None,
        num_registers=int(model.num_reg_tokens),
        pos_embed="learned" if model.pos_embed is not None else "none",
        pos_grid=tuple(int(g) for g in model.patch_embed.grid_size),
        no_embed_class=bool(model.no_embed_class),
        pos_resample=pos_resample,
        layerscale=float(first.ls1.gamma.detach().flatten()[0]) if hasattr(first.ls1, "gamma") else None,
        pre_norm=isinstance(model.norm_pre, nn.LayerNorm),
        patch_bias=model.patch_embed.proj.bias is not None,
        final_norm=isinstance(model.norm, nn.LayerNorm),
        attn_pool=pool is not None,
        act=_timm_act(first.mlp.act),
        norm_eps=float(first.norm1.eps),
    )


# ---------------------------------------------------------------------------------------------
# transformers


@dataclass(frozen=True)
class HfFamily:
    """What probekit needs to know about one transformers vision model type."""

    model_type: str
    timm_model: str  # a timm model of the same family (hosts converted weights, gives defaults)
    final_norm: str  # attribute of the vision model holding the final LayerNorm
    num_prefix: str  # 'cls' (1), 'cls+registers' (1 + num_register_tokens) or 'none' (0)
    global_source: str  # 'cls' | 'attn_pool'
    pos_resample: str  # the model's own pos-embed resampling, named as in POS_RESAMPLERS
    pixel_mean: tuple[float, float, float]
    pixel_std: tuple[float, float, float]


HF_FAMILIES: Registry[HfFamily] = Registry("transformers model type", BackboneError)
_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
for _family in (
    HfFamily("dinov2", "vit_small_patch14_dinov2", "layernorm", "cls", "cls", "hf", *_IMAGENET),
    # HF's registers model resamples with antialias=True: the same maths as timm.
    HfFamily(
        "dinov2_with_registers",
        "vit_small_patch14_reg4_dinov2",
        "layernorm",
        "cls+registers",
        "cls",
        "timm",
        *_IMAGENET,
    ),
    HfFamily(
        "siglip_vision_model",
        "vit_base_patch16_siglip_224",
        "post_layernorm",
        "none",
        "attn_pool",
        "hf",
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
    ),
):
    HF_FAMILIES.register(_family.model_type, _family)


def hf_vision_config(config: Any) -> Any:
    """The vision part of a transformers config (SigLIP's full model nests it as `vision_config`)."""
    return getattr(config, "vision_config", None) or config


def hf_family(config: Any) -> HfFamily:
    config = hf_vision_config(config)
    if config.model_type not in HF_FAMILIES:
        raise BackboneError(
            f"transformers model type {config.model_type!r} is not supported by probekit's hf: "
            f"backend; supported: {', '.join(HF_FAMILIES)}"
        )
    return HF_FAMILIES.get(config.model_type)


def hf_num_prefix(config: Any) -> int:
    config = hf_vision_config(config)
    kind = hf_family(config).num_prefix
    return {"none": 0, "cls": 1, "cls+registers": 1 + int(getattr(config, "num_register_tokens", 0))}[kind]


def _hf_size(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        if value[0] != value[1]:
            raise BackboneError(f"non-square {value} in a transformers config is not supported")
        value = value[0]
    return int(value)


def vit_config_from_hf(config: Any) -> ViTConfig:
    """The reference config for a transformers `Dinov2Model`, `Dinov2WithRegistersModel` or `SiglipVisionModel`
    whose state dict went through `convert.hf_to_timm` (so timm's layout: registers get no position)."""
    config = hf_vision_config(config)
    family = hf_family(config)
    if getattr(config, "use_swiglu_ffn", False):
        raise BackboneError("SwiGLU DINOv2 (giant) is not in the reference ViT: use the hf backend itself")
    act = _HF_ACTS.get(config.hidden_act)
    if act is None:
        raise BackboneError(
            f"activation {config.hidden_act!r} is not in the reference ViT; known: {', '.join(_HF_ACTS)}"
        )
    D, patch = int(config.hidden_size), _hf_size(config.patch_size)
    side = _hf_size(config.image_size) // patch
    hidden = getattr(config, "intermediate_size", None) or round(D * config.mlp_ratio)
    registers = hf_num_prefix(config) - int(family.global_source == "cls")
    return ViTConfig(
        patch_size=patch,
        embed_dim=D,
        depth=int(config.num_hidden_layers),
        num_heads=int(config.num_attention_heads),
        mlp_ratio=hidden / D,
        qkv_bias=bool(getattr(config, "qkv_bias", True)),
        class_token=family.global_source == "cls",
        num_registers=registers,
        pos_embed="learned",
        pos_grid=(side, side),
        no_embed_class=registers > 0 or family.global_source != "cls",
        pos_resample=family.pos_resample,
        layerscale=float(config.layerscale_value) if hasattr(config, "layerscale_value") else None,
        attn_pool=family.global_source == "attn_pool" and bool(getattr(config, "vision_use_head", True)),
        act=act,
        norm_eps=float(config.layer_norm_eps),
    )


def timm_kwargs_from_hf(config: Any) -> tuple[str, dict[str, Any]]:
    """(timm model name, create_model kwargs) of a timm model that a converted transformers state dict loads into."""
    from functools import partial

    from timm.layers.norm import LayerNorm

    cfg = vit_config_from_hf(config)
    family = hf_family(config)
    kwargs = dict(
        img_size=cfg.pos_grid[0] * cfg.patch_size,
        patch_size=cfg.patch_size,
        embed_dim=cfg.embed_dim,
        depth=cfg.depth,
        num_heads=cfg.num_heads,
        mlp_ratio=cfg.mlp_ratio,
        qkv_bias=cfg.qkv_bias,
        init_values=cfg.layerscale,
        reg_tokens=cfg.num_registers,
        no_embed_class=cfg.no_embed_class,
        class_token=cfg.class_token,
        global_pool="map" if cfg.attn_pool else ("token" if cfg.class_token else ""),
        act_layer={"gelu": "gelu", "gelu_tanh": "gelu_tanh", "quick_gelu": "quick_gelu"}[cfg.act],
        norm_layer=partial(LayerNorm, eps=cfg.norm_eps),
    )
    return family.timm_model, kwargs
