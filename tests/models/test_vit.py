"""The reference ViT equals timm's VisionTransformer token for token, and its pos-embed resamplers equal the originals.

Every comparison is against timm (or transformers, or Meta's code quoted below), never against numbers
the reference produced itself. Weights are timm's random init plus noise, so that DINOv2's 1e-5
LayerScale does not turn the blocks into near-identities that would hide a wrong block.
"""

from __future__ import annotations

import math

import pytest
import timm
import torch
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed

from probekit.errors import BackboneError
from probekit.models.convert import reference_from_timm
from probekit.models.vit import ViT, ViTConfig, resample_pos_embed, sincos_2d

TOL = 1e-5
TINY = dict(embed_dim=64, depth=4, num_heads=2)
CASES = [  # (timm model, native image size): DINOv2, DINOv2 + registers, SigLIP, plain ViT/DeiT, CLIP
    ("vit_small_patch14_dinov2", 56),
    ("vit_small_patch14_reg4_dinov2", 56),
    ("vit_base_patch16_siglip_224", 64),
    ("vit_small_patch16_224", 64),
    ("deit_small_patch16_224", 64),
    ("vit_base_patch16_clip_quickgelu_224", 64),
]


def _noisy_timm(name: str, img_size: int, seed: int = 0, **kwargs) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = timm.create_model(
        name, pretrained=False, num_classes=0, dynamic_img_size=True, img_size=img_size, **TINY, **kwargs
    ).eval()
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.1)
    return model


def _timm_tokens(model, x: torch.Tensor, layers: list[int], norm: bool) -> list[torch.Tensor]:
    """Full token sequences (B, prefix + h*w, D) from timm's forward_intermediates."""
    outputs = model.forward_intermediates(
        x, indices=layers, norm=norm, output_fmt="NLC", intermediates_only=True, return_prefix_tokens=True
    )
    return [torch.cat([o[1], o[0]], dim=1) if isinstance(o, tuple) else o for o in outputs]


@pytest.mark.parametrize("name,native", CASES)
@pytest.mark.parametrize("grid", [None, (3, 5)], ids=["native", "3x5-patches"])
@pytest.mark.parametrize("norm", [True, False], ids=["norm", "no-norm"])
def test_tokens_of_every_layer_equal_timm(name, native, grid, norm):
    timm_model = _noisy_timm(name, native)
    reference = reference_from_timm(timm_model)
    P = reference.cfg.patch_size
    H, W = (native, native) if grid is None else (grid[0] * P, grid[1] * P)
    x = torch.randn(2, 3, H, W, generator=torch.Generator().manual_seed(7))
    layers = list(range(reference.cfg.depth))
    with torch.no_grad():
        expected = _timm_tokens(timm_model, x, layers, norm)
        got = reference.forward_intermediates(x, layers, norm=norm)
    assert len(got) == len(expected)
    for layer, (e, g) in enumerate(zip(expected, got, strict=True)):
        assert g.shape == e.shape == (2, timm_model.num_prefix_tokens + (H // P) * (W // P), 64)
        diff = (g - e).abs().max().item()
        assert diff <= TOL, f"layer {layer}: max abs diff {diff:.2e}"


@pytest.mark.parametrize("name,native", CASES)
def test_global_mean_and_grid_equal_timm(name, native):
    """CLS, SigLIP's attention-pool output and the patch mean (registers excluded) of the final layer."""
    timm_model = _noisy_timm(name, native, seed=3)
    reference = reference_from_timm(timm_model)
    P = reference.cfg.patch_size
    x = torch.randn(2, 3, 2 * P, 4 * P, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        final = timm_model.forward_features(x)  # (B, T, D), final-normed
        pooled = timm_model.forward_head(final, pre_logits=True)  # CLS (token pool) or MAP output
        patches = final[:, timm_model.num_prefix_tokens :]  # (B, h*w, D)
        out = reference(x)
    expected_global = pooled if reference.global_source == "attn_pool" else final[:, 0]
    assert reference.global_source == ("attn_pool" if "siglip" in name else "cls")
    torch.testing.assert_close(out.global_, expected_global, atol=TOL, rtol=0)
    torch.testing.assert_close(out.mean, patches.mean(1), atol=TOL, rtol=0)
    torch.testing.assert_close(out.patch, patches.reshape(2, 2, 4, 64), atol=TOL, rtol=0)
    assert out.registers.shape == (2, timm_model.num_reg_tokens, 64)


def test_parity_test_can_fail():
    """The same weights with HF's (non-antialiased) resampling differ from timm at a shrunk grid."""
    timm_model = _noisy_timm("vit_small_patch14_dinov2", 56)
    reference = ViT(ViTConfig(**{**reference_from_timm(timm_model).cfg.__dict__, "pos_resample": "hf"}))
    reference.load_state_dict(reference_from_timm(timm_model).state_dict())
    x = torch.randn(1, 3, 28, 42)
    with torch.no_grad():
        diff = (reference.forward_intermediates(x, [0])[0] - _timm_tokens(timm_model, x, [0], False)[0]).abs().max()
    assert diff > 100 * TOL


def test_stops_after_the_last_chosen_block():
    reference = reference_from_timm(_noisy_timm("vit_small_patch16_224", 64))
    calls = []
    for i, block in enumerate(reference.blocks):
        block.register_forward_hook(lambda *_, i=i: calls.append(i))
    with torch.no_grad():
        out = reference.forward_intermediates(torch.randn(1, 3, 32, 32), [0, -3])
    assert calls == [0, 1] and len(out) == 2


# ---------------------------------------------------------------------------------------------
# Positional embeddings against their originals


def _meta_interpolate_pos_encoding(pos_embed, x, w, h, patch_size, interpolate_offset=0.1, antialias=False):
    """Meta's DINOv2 `DinoVisionTransformer.interpolate_pos_encoding` (facebookresearch/dinov2 @ b8931f7,
    dinov2/models/vision_transformer.py, Apache-2.0), quoted with `self.` replaced by arguments.
    Meta names the input (B, C, w, h), so its `w` is the height."""
    previous_dtype = x.dtype
    npatch = x.shape[1] - 1
    N = pos_embed.shape[1] - 1
    if npatch == N and w == h:
        return pos_embed
    pos_embed = pos_embed.float()
    class_pos_embed = pos_embed[:, 0]
    patch_pos_embed = pos_embed[:, 1:]
    dim = x.shape[-1]
    w0 = w // patch_size
    h0 = h // patch_size
    M = int(math.sqrt(N))
    assert N == M * M
    kwargs = {}
    if interpolate_offset:
        sx = float(w0 + interpolate_offset) / M
        sy = float(h0 + interpolate_offset) / M
        kwargs["scale_factor"] = (sx, sy)
    else:
        kwargs["size"] = (w0, h0)
    patch_pos_embed = F.interpolate(
        patch_pos_embed.reshape(1, M, M, dim).permute(0, 3, 1, 2), mode="bicubic", antialias=antialias, **kwargs
    )
    assert (w0, h0) == patch_pos_embed.shape[-2:]
    patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
    return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1).to(previous_dtype)


NEW_GRIDS = [(2, 3), (3, 5), (6, 4), (7, 9), (4, 4)]


@pytest.mark.parametrize("new", NEW_GRIDS)
def test_timm_resampling_equals_timm(new):
    pos = torch.randn(1, 1 + 16, 32)
    expected = resample_abs_pos_embed(pos, new_size=new, old_size=(4, 4), num_prefix_tokens=1)
    got = resample_pos_embed(pos[:, 1:], (4, 4), new, "timm")
    torch.testing.assert_close(got, expected[:, 1:], atol=1e-6, rtol=0)


@pytest.mark.parametrize("new", NEW_GRIDS)
@pytest.mark.parametrize(
    "offset,antialias,mode",
    [(0.1, False, "dinov2"), (0.0, False, "hf"), (0.0, True, "timm")],
    ids=["meta-dinov2", "meta-offset0", "meta-reg"],
)
def test_dinov2_resampling_equals_meta(new, offset, antialias, mode):
    """Meta's three settings: ViT (offset 0.1), offset 0 (== HF DINOv2), and the -reg hub models (antialias)."""
    P = 14
    pos = torch.randn(1, 1 + 16, 32)
    x = torch.zeros(1, 1 + new[0] * new[1], 32)
    expected = _meta_interpolate_pos_encoding(pos, x, new[0] * P, new[1] * P, P, offset, antialias)
    got = resample_pos_embed(pos[:, 1:], (4, 4), new, mode)
    torch.testing.assert_close(got, expected[:, 1:], atol=1e-6, rtol=0)


@pytest.mark.parametrize("new", NEW_GRIDS)
def test_hf_resampling_equals_transformers_dinov2(new):
    transformers = pytest.importorskip("transformers")
    config = transformers.Dinov2Config(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=56, patch_size=14
    )
    embeddings = transformers.models.dinov2.modeling_dinov2.Dinov2Embeddings(config)
    pos = embeddings.position_embeddings.detach()
    tokens = torch.zeros(1, 1 + new[0] * new[1], 32)
    with torch.no_grad():
        expected = embeddings.interpolate_pos_encoding(tokens, new[0] * 14, new[1] * 14)
    got = resample_pos_embed(pos[:, 1:], (4, 4), new, "hf")
    torch.testing.assert_close(got, expected[:, 1:], atol=1e-6, rtol=0)


def test_resamplers_differ_when_shrinking():
    """The three are not interchangeable: the option matters and is recorded."""
    pos = torch.randn(1, 64, 16)
    out = {mode: resample_pos_embed(pos, (8, 8), (3, 5), mode) for mode in ("timm", "dinov2", "hf")}
    assert (out["timm"] - out["hf"]).abs().max() > 1e-2
    assert (out["dinov2"] - out["hf"]).abs().max() > 1e-3


def test_sincos_equals_timm_builder():
    """MAE's layout [sin x, cos x, sin y, cos y] from timm's builder, which stacks [sin y, sin x, cos y, cos x]."""
    from timm.layers.pos_embed_sincos import build_sincos2d_pos_embed

    h, w, dim = 3, 5, 32
    sin_y, sin_x, cos_y, cos_x = build_sincos2d_pos_embed([h, w], dim=dim).chunk(4, dim=1)  # each (h*w, dim/4)
    torch.testing.assert_close(sincos_2d(h, w, dim), torch.cat([sin_x, cos_x, sin_y, cos_y], 1), atol=1e-6, rtol=0)


def test_sincos_model_runs_at_any_grid():
    model = ViT(ViTConfig(patch_size=8, embed_dim=32, depth=1, num_heads=2, pos_embed="sincos")).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 24, 40))
    assert out.patch.shape == (1, 3, 5, 32) and "pos_embed" not in model.state_dict()


# ---------------------------------------------------------------------------------------------
# What the reference refuses


def test_rope_models_are_refused():
    model = timm.create_model("vit_small_patch16_dinov3", pretrained=False, num_classes=0, img_size=64, **TINY)
    with pytest.raises(BackboneError, match="--impl timm"):
        reference_from_timm(model)


def test_swiglu_blocks_are_refused():
    model = timm.create_model(
        "vit_giant_patch14_dinov2", pretrained=False, num_classes=0, img_size=56, embed_dim=48, depth=1, num_heads=2
    )  # SwiGLU hidden 256
    with pytest.raises(BackboneError, match="SwiGLU"):
        reference_from_timm(model)
