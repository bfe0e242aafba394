"""A Vision Transformer written from first principles: the reference that says what the features are.

One readable file, nanoGPT style. Parameter names follow timm's `VisionTransformer` so that a timm
state dict loads as it is (see `probekit.models.convert` for Meta DINOv2 and transformers layouts):

    image (B, 3, H, W)
      -> patch_embed: Conv2d(P, stride P)         (B, D, h, w) -> tokens (B, h*w, D)
      -> + positional embedding (learned table resampled to (h, w), or fixed 2-D sin-cos)
      -> prepend CLS and register tokens           (B, T, D), T = prefix + h*w
      -> [norm_pre] -> depth x Pre-LN block:  x + ls1(attn(norm1(x))),  x + ls2(mlp(norm2(x)))
      -> final norm -> CLS / attention-pool (SigLIP MAP) / patch mean, patch grid (B, h, w, D)

Covers DINOv2 (+registers), DeiT/plain ViT, MAE, CLIP image towers and SigLIP. Not covered:
DINOv3 and other RoPE models (rotary position in every attention layer, not an additive table),
SwiGLU MLPs (DINOv2 giant), qk-norm and EVA-style blocks; `configs.vit_config_from_timm` refuses them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ViTConfig:
    """The architecture. Defaults are ViT-B/16 at 224 px with a learned table and a CLS token."""

    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0  # MLP hidden width = round(embed_dim * mlp_ratio)
    qkv_bias: bool = True
    class_token: bool = True
    num_registers: int = 0  # DINOv2-reg: extra learned tokens, excluded from patch grid and mean
    pos_embed: str = "learned"  # 'learned' (a table at pos_grid) | 'sincos' (fixed 2-D, any grid) | 'none'
    pos_grid: tuple[int, int] = (14, 14)  # grid the learned table was trained at (image size / patch)
    no_embed_class: bool = False  # the table has no rows for CLS/registers (timm DINOv2-reg, DeiT-3, SigLIP)
    pos_resample: str = "timm"  # how the table is resized to other grids: see POS_RESAMPLERS
    layerscale: float | None = None  # LayerScale init value (DINOv2: 1e-5); None = no LayerScale
    pre_norm: bool = False  # LayerNorm on the embedded tokens before the blocks (CLIP)
    patch_bias: bool = True  # timm drops the patch-embed bias when pre_norm is set
    final_norm: bool = True
    attn_pool: bool = False  # SigLIP's multi-head attention-pool (MAP) head gives the global feature
    act: str = "gelu"  # 'gelu' | 'gelu_tanh' (HF SigLIP) | 'quick_gelu' (OpenAI CLIP)
    norm_eps: float = 1e-6

    @property
    def num_prefix_tokens(self) -> int:
        return int(self.class_token) + self.num_registers

    @property
    def mlp_hidden(self) -> int:
        return round(self.embed_dim * self.mlp_ratio)


# ---------------------------------------------------------------------------------------------
# Positional embeddings


def _resample_timm(grid: torch.Tensor, new: tuple[int, int], old: tuple[int, int]) -> torch.Tensor:
    """timm's `resample_abs_pos_embed`: bicubic to the target size, antialiased (matters when shrinking).
    Also Meta's DINOv2-reg hub models and HF `Dinov2WithRegistersModel`."""
    return F.interpolate(grid, size=new, mode="bicubic", antialias=True)


def _resample_dinov2(grid: torch.Tensor, new: tuple[int, int], old: tuple[int, int]) -> torch.Tensor:
    """Meta's DINOv2 `interpolate_pos_encoding` (interpolate_offset=0.1): bicubic by scale factors
    (new + 0.1) / old, no antialias. The offset is a historical kludge kept for compatibility."""
    scale = ((new[0] + 0.1) / old[0], (new[1] + 0.1) / old[1])
    return F.interpolate(grid, scale_factor=scale, mode="bicubic", antialias=False)


def _resample_hf(grid: torch.Tensor, new: tuple[int, int], old: tuple[int, int]) -> torch.Tensor:
    """HF `Dinov2Model` / `SiglipVisionModel` (and Meta with interpolate_offset=0): bicubic to the
    target size, no antialias."""
    return F.interpolate(grid, size=new, mode="bicubic", align_corners=False, antialias=False)


POS_RESAMPLERS: dict[str, Callable[[torch.Tensor, tuple[int, int], tuple[int, int]], torch.Tensor]] = {
    "timm": _resample_timm,
    "dinov2": _resample_dinov2,
    "hf": _resample_hf,
}


def resample_pos_embed(pos: torch.Tensor, old: tuple[int, int], new: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize a table of patch positions (1, old_h*old_w, D) to (1, new_h*new_w, D), in float32."""
    if tuple(old) == tuple(new):
        return pos  # every implementation returns the table untouched at its own grid
    D = pos.shape[-1]
    grid = pos.float().reshape(1, old[0], old[1], D).permute(0, 3, 1, 2)  # (1, D, old_h, old_w)
    grid = POS_RESAMPLERS[mode](grid, (new[0], new[1]), (old[0], old[1]))  # (1, D, h, w)
    if tuple(grid.shape[-2:]) != tuple(new):
        raise ValueError(f"pos-embed resampling '{mode}' gave grid {tuple(grid.shape[-2:])}, expected {tuple(new)}")
    return grid.permute(0, 2, 3, 1).reshape(1, new[0] * new[1], D).to(pos.dtype)  # (1, h*w, D)


def sincos_2d(h: int, w: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 2-D sin-cos positions (h*w, dim) as in MAE / MoCo v3: [sin(x), cos(x), sin(y), cos(y)]
    with x the column and y the row, each over dim/4 frequencies 1 / temperature^(k / (dim/4))."""
    if dim % 4:
        raise ValueError(f"2-D sin-cos positions need embed_dim divisible by 4, got {dim}")
    omega = 1.0 / temperature ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4))  # (dim/4,)
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    x = x.reshape(-1, 1) * omega  # (h*w, dim/4)
    y = y.reshape(-1, 1) * omega  # (h*w, dim/4)
    return torch.cat([x.sin(), x.cos(), y.sin(), y.cos()], dim=1)  # (h*w, dim)


# ---------------------------------------------------------------------------------------------
# Layers

_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
}


class PatchEmbed(nn.Module):
    """Non-overlapping P x P patches, each linearly projected to D: a Conv2d with stride P."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.embed_dim, cfg.patch_size, stride=cfg.patch_size, bias=cfg.patch_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)  # (B, D, h, w)
        return x.permute(0, 2, 3, 1)  # (B, h, w, D)


class Attention(nn.Module):
    """Multi-head self-attention: one fused qkv projection, softmax(q k^T / sqrt(d)) v per head."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.num_heads = cfg.num_heads
        self.qkv = nn.Linear(cfg.embed_dim, 3 * cfg.embed_dim, bias=cfg.qkv_bias)
        self.proj = nn.Linear(cfg.embed_dim, cfg.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        H = self.num_heads
        qkv = self.qkv(x).reshape(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)  # (3, B, H, T, D/H)
        q, k, v = qkv.unbind(0)  # each (B, H, T, D/H)
        x = F.scaled_dot_product_attention(q, k, v)  # (B, H, T, D/H)
        x = x.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        out: torch.Tensor = self.proj(x)  # (B, T, D)
        return out


class Mlp(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.fc1 = nn.Linear(cfg.embed_dim, cfg.mlp_hidden)
        self.fc2 = nn.Linear(cfg.mlp_hidden, cfg.embed_dim)
        self.act = _ACTIVATIONS[cfg.act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc2(self.act(self.fc1(x)))  # (B, T, D) -> (B, T, hidden) -> (B, T, D)
        return out


class LayerScale(nn.Module):
    """Per-channel learned scale of a residual branch (CaiT, DINOv2), initialised small."""

    def __init__(self, dim: int, init: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-LN transformer block: x + ls1(attn(norm1(x))), then x + ls2(mlp(norm2(x)))."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        D = cfg.embed_dim
        self.norm1 = nn.LayerNorm(D, eps=cfg.norm_eps)
        self.attn = Attention(cfg)
        self.ls1 = LayerScale(D, cfg.layerscale) if cfg.layerscale is not None else nn.Identity()
        self.norm2 = nn.LayerNorm(D, eps=cfg.norm_eps)
        self.mlp = Mlp(cfg)
        self.ls2 = LayerScale(D, cfg.layerscale) if cfg.layerscale is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))  # (B, T, D)
        out: torch.Tensor = x + self.ls2(self.mlp(self.norm2(x)))  # (B, T, D)
        return out


class AttentionPool(nn.Module):
    """SigLIP's MAP head: one learned query attends over all tokens, then a residual MLP.

    Same maths as timm's `AttentionPoolLatent` and HF's `SiglipMultiheadAttentionPoolingHead`.
    """

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        D = cfg.embed_dim
        self.num_heads = cfg.num_heads
        self.latent = nn.Parameter(torch.zeros(1, 1, D))
        self.q = nn.Linear(D, D)  # biased whatever the blocks' qkv_bias (timm, HF and big_vision agree)
        self.kv = nn.Linear(D, 2 * D)
        self.proj = nn.Linear(D, D)
        self.norm = nn.LayerNorm(D, eps=cfg.norm_eps)
        self.mlp = Mlp(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        H = self.num_heads
        q = self.q(self.latent.expand(B, -1, -1)).reshape(B, 1, H, D // H).transpose(1, 2)  # (B, H, 1, D/H)
        kv = self.kv(x).reshape(B, T, 2, H, D // H).permute(2, 0, 3, 1, 4)  # (2, B, H, T, D/H)
        k, v = kv.unbind(0)  # each (B, H, T, D/H)
        x = F.scaled_dot_product_attention(q, k, v)  # (B, H, 1, D/H)
        x = self.proj(x.transpose(1, 2).reshape(B, 1, D))  # (B, 1, D)
        x = x + self.mlp(self.norm(x))
        return x[:, 0]  # (B, D)


# ---------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class ViTFeatures:
    """What one layer's tokens mean. `global_` is the CLS token, SigLIP's pooled output, or the mean."""

    global_: torch.Tensor  # (B, D)
    mean: torch.Tensor  # (B, D) mean of the patch tokens, registers excluded
    patch: torch.Tensor  # (B, h, w, D)
    cls: torch.Tensor | None  # (B, D), None without a CLS token
    registers: torch.Tensor  # (B, R, D), R may be 0


class ViT(nn.Module):
    """The Vision Transformer of `ViTConfig`, at any input size that is a multiple of the patch."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        if cfg.embed_dim % cfg.num_heads:
            raise ValueError(f"embed_dim {cfg.embed_dim} is not divisible by num_heads {cfg.num_heads}")
        if cfg.pos_resample not in POS_RESAMPLERS:
            raise ValueError(f"pos_resample must be one of {', '.join(POS_RESAMPLERS)}, not {cfg.pos_resample!r}")
        if cfg.act not in _ACTIVATIONS:
            raise ValueError(f"act must be one of {', '.join(_ACTIVATIONS)}, not {cfg.act!r}")
        self.cfg = cfg
        D = cfg.embed_dim
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D)) if cfg.class_token else None
        self.reg_token = nn.Parameter(torch.zeros(1, cfg.num_registers, D)) if cfg.num_registers else None
        if cfg.pos_embed == "learned":
            rows = cfg.pos_grid[0] * cfg.pos_grid[1] + (0 if cfg.no_embed_class else cfg.num_prefix_tokens)
            self.pos_embed: nn.Parameter | None = nn.Parameter(torch.zeros(1, rows, D))  # (1, [prefix +] gh*gw, D)
        elif cfg.pos_embed in ("sincos", "none"):
            self.pos_embed = None
        else:
            raise ValueError(f"pos_embed must be 'learned', 'sincos' or 'none', not {cfg.pos_embed!r}")
        self.norm_pre = nn.LayerNorm(D, eps=cfg.norm_eps) if cfg.pre_norm else nn.Identity()
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(D, eps=cfg.norm_eps) if cfg.final_norm else nn.Identity()
        self.attn_pool = AttentionPool(cfg) if cfg.attn_pool else None
        for p in (
            self.cls_token,
            self.reg_token,
            self.pos_embed,
            self.attn_pool.latent if self.attn_pool is not None else None,
        ):
            if p is not None:
                nn.init.trunc_normal_(p, std=0.02)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) -> tokens (B, prefix + h*w, D): patches, positions, CLS and registers."""
        cfg = self.cfg
        x = self.patch_embed(x)  # (B, h, w, D)
        B, h, w, D = x.shape
        x = x.reshape(B, h * w, D)  # (B, h*w, D), row-major over the grid
        prefix = [t.expand(B, -1, -1) for t in (self.cls_token, self.reg_token) if t is not None]  # (B, 1|R, D)
        if cfg.pos_embed == "sincos":
            x = x + sincos_2d(h, w, D).to(x)  # prefix tokens get no position (MAE: zeros)
            x = torch.cat([*prefix, x], dim=1)  # (B, T, D)
        elif cfg.pos_embed == "learned":
            assert self.pos_embed is not None  # built in __init__ exactly when pos_embed is "learned"
            rows = 0 if cfg.no_embed_class else cfg.num_prefix_tokens
            pos_prefix, pos_patch = self.pos_embed[:, :rows], self.pos_embed[:, rows:]  # (1, rows, D), (1, gh*gw, D)
            pos_patch = resample_pos_embed(pos_patch, cfg.pos_grid, (h, w), cfg.pos_resample)  # (1, h*w, D)
            if cfg.no_embed_class:
                x = torch.cat([*prefix, x + pos_patch], dim=1)  # (B, T, D)
            else:
                x = torch.cat([*prefix, x], dim=1) + torch.cat([pos_prefix, pos_patch], dim=1)  # (B, T, D)
        else:
            x = torch.cat([*prefix, x], dim=1)
        out: torch.Tensor = self.norm_pre(x)  # (B, T, D)
        return out

    def forward_intermediates(
        self, x: torch.Tensor, layers: Sequence[int] | None = None, norm: bool = False
    ) -> list[torch.Tensor]:
        """Token sequences (B, prefix + h*w, D) after each chosen block (0-based, negative from the end).

        `norm=True` passes each through the final norm, as timm's `forward_intermediates(norm=True)`
        and DINOv2's linear evaluation do. Blocks after the last chosen one are not run.
        """
        depth = self.cfg.depth
        wanted = sorted({i % depth for i in (range(depth) if layers is None else layers)})
        x = self.embed(x)
        outputs = []
        for i, block in enumerate(self.blocks[: wanted[-1] + 1]):
            x = block(x)  # (B, T, D)
            if i in wanted:
                outputs.append(self.norm(x) if norm else x)
        return outputs

    def features(self, tokens: torch.Tensor, grid: tuple[int, int], normed: bool = True) -> ViTFeatures:
        """Split one layer's tokens (B, T, D) into global, mean, patch grid, CLS and registers."""
        B, _, D = tokens.shape
        P, R = self.cfg.num_prefix_tokens, self.cfg.num_registers
        patches = tokens[:, P:]  # (B, h*w, D)
        cls = tokens[:, 0] if self.cfg.class_token else None  # (B, D)
        registers = tokens[:, P - R : P]  # (B, R, D)
        if cls is not None:
            global_ = cls
        elif self.attn_pool is not None:
            # The pool was trained on final-normed tokens; timm pools patch tokens only.
            global_ = self.attn_pool(patches if normed else self.norm(patches))  # (B, D)
        else:
            global_ = patches.mean(dim=1)
        return ViTFeatures(
            global_=global_, mean=patches.mean(dim=1), patch=patches.reshape(B, *grid, D), cls=cls, registers=registers
        )

    def forward(self, x: torch.Tensor) -> ViTFeatures:
        """Final-layer features of images (B, 3, H, W), through the final norm."""
        P = self.cfg.patch_size
        grid = (x.shape[-2] // P, x.shape[-1] // P)
        (tokens,) = self.forward_intermediates(x, [-1], norm=True)  # (B, T, D)
        return self.features(tokens, grid, normed=True)

    @property
    def global_source(self) -> str:
        return "cls" if self.cfg.class_token else "attn_pool" if self.attn_pool is not None else "mean"
