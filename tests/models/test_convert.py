"""Weights in transformers' and Meta's layouts give timm and the reference ViT the very same features.

Random-init transformers models (tiny configs, nothing downloaded) are the ground truth: their hidden
states, last_hidden_state and pooler_output are what the converted timm and reference models must give.
"""

from __future__ import annotations

import pytest
import timm
import torch

from probekit.errors import BackboneError
from probekit.models.configs import hf_num_prefix, vit_config_from_hf
from probekit.models.convert import (
    hf_pos_resample,
    hf_to_timm,
    meta_dinov2_to_timm,
    reference_from_hf,
    reference_from_state,
    reference_from_timm,
    timm_from_hf,
)

transformers = pytest.importorskip("transformers")
from tests.hf_factory import KINDS, tiny_hf_model  # noqa: E402

TOL = 1e-5


def _hf_model(kind: str, seed: int = 0):
    """A tiny random transformers model with noise on every weight."""
    return tiny_hf_model(kind, seed, noise=0.05)


def _hf_layers(model, x: torch.Tensor) -> tuple[list[torch.Tensor], object]:
    """Final-normed token sequences of every block, from output_hidden_states, and the model's output."""
    extra = {"interpolate_pos_encoding": True} if "Siglip" in type(model).__name__ else {}
    out = model(pixel_values=x, output_hidden_states=True, **extra)
    norm = model.layernorm if hasattr(model, "layernorm") else model.post_layernorm
    return [norm(h) for h in out.hidden_states[1:]], out


def _timm_layers(model, x: torch.Tensor) -> list[torch.Tensor]:
    outputs = model.forward_intermediates(
        x,
        indices=list(range(len(model.blocks))),
        norm=True,
        output_fmt="NLC",
        intermediates_only=True,
        return_prefix_tokens=True,
    )
    return [torch.cat([o[1], o[0]], dim=1) if isinstance(o, tuple) else o for o in outputs]


def _max_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    assert len(a) == len(b) and all(x.shape == y.shape for x, y in zip(a, b, strict=True))
    return max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("kind", KINDS)
def test_timm_with_converted_weights_equals_transformers_at_native_size(kind):
    hf = _hf_model(kind)
    timm_model = timm_from_hf(hf)
    x = torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, out = _hf_layers(hf, x)
        got = _timm_layers(timm_model, x)
        pooled = timm_model.forward_head(timm_model.forward_features(x), pre_logits=True)
    assert _max_diff(expected, got) <= TOL
    torch.testing.assert_close(got[-1], out.last_hidden_state, atol=TOL, rtol=0)
    torch.testing.assert_close(pooled, out.pooler_output, atol=TOL, rtol=0)  # CLS, or SigLIP's MAP head


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [(56, 56), (42, 70), (84, 28)], ids=["native", "42x70", "84x28"])
def test_reference_with_converted_weights_equals_transformers(kind, size):
    """Including non-native sizes: the reference resamples positions as the transformers model does."""
    hf = _hf_model(kind, seed=1)
    reference = reference_from_hf(hf)
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected, out = _hf_layers(hf, x)
        got = reference.forward_intermediates(x, norm=True)
        features = reference(x)
    assert _max_diff(expected, got) <= TOL
    P = hf_num_prefix(hf.config)
    torch.testing.assert_close(features.global_, out.pooler_output, atol=TOL, rtol=0)
    torch.testing.assert_close(features.patch.flatten(1, 2), out.last_hidden_state[:, P:], atol=TOL, rtol=0)


def test_reference_resampling_choice_is_what_makes_it_match():
    """With timm's resampling instead of HF DINOv2's, the reference no longer matches at 42x70."""
    hf = _hf_model("dinov2")
    config = vit_config_from_hf(hf.config)
    state = hf_to_timm(hf.state_dict(), hf.config)
    timm_style = reference_from_state(state, config.__class__(**{**config.__dict__, "pos_resample": "timm"}))
    x = torch.randn(1, 3, 42, 70)
    with torch.no_grad():
        expected, _ = _hf_layers(hf, x)
        assert _max_diff(expected, timm_style.forward_intermediates(x, norm=True)) > 1e-3


def test_transformers_4_key_names_convert_the_same():
    """transformers 4.x named DINOv2's attention `attention.attention.query` / `attention.output.dense`."""
    hf = _hf_model("dinov2")
    renames = {
        "attention.q_proj": "attention.attention.query",
        "attention.k_proj": "attention.attention.key",
        "attention.v_proj": "attention.attention.value",
        "attention.o_proj": "attention.output.dense",
    }
    old = {}
    for key, value in hf.state_dict().items():
        for new_name, old_name in renames.items():
            key = key.replace(new_name, old_name)
        old[key] = value
    new_state = hf_to_timm(hf.state_dict(), hf.config)
    old_state = hf_to_timm(old, hf.config)
    assert new_state.keys() == old_state.keys()
    assert all(torch.equal(new_state[k], old_state[k]) for k in new_state)
    assert not any("mask_token" in k for k in new_state)


def test_siglip_full_model_keys_are_unwrapped():
    """SiglipModel (text + vision) keeps the vision tower under `vision_model.`."""
    hf = _hf_model("siglip")
    wrapped = {f"vision_model.{k}": v for k, v in hf.state_dict().items()} | {"text_model.x.weight": torch.zeros(1)}
    assert hf_to_timm(wrapped, hf.config).keys() == hf_to_timm(hf.state_dict(), hf.config).keys()


@pytest.mark.parametrize("name", ["vit_small_patch14_dinov2", "vit_small_patch14_reg4_dinov2"])
def test_meta_dinov2_layout_loads_into_the_reference(name):
    """Meta's layout (mask_token, register_tokens, CLS position in the table) via timm's converter."""
    torch.manual_seed(0)
    kwargs = dict(
        pretrained=False, num_classes=0, img_size=56, embed_dim=64, depth=2, num_heads=2, dynamic_img_size=True
    )
    source = timm.create_model(name, **kwargs).eval()
    with torch.no_grad():
        for p in source.parameters():  # timm's CLS init (std 1e-6) would make rounding look like an error
            p.add_(torch.randn(p.shape) * 0.1)
    state = source.state_dict()
    meta = {k: v.clone() for k, v in state.items()}
    meta["mask_token"] = torch.zeros(1, 64)
    if source.num_reg_tokens:
        pos_cls = 0.1 * torch.randn(1, 1, 64)  # Meta adds CLS's position from the table, timm folds it into cls_token
        meta["register_tokens"] = meta.pop("reg_token")
        meta["cls_token"] = state["cls_token"] - pos_cls
        meta["pos_embed"] = torch.cat([pos_cls, state["pos_embed"]], dim=1)
    target = timm.create_model(name, **kwargs).eval()
    reference = reference_from_state(meta_dinov2_to_timm(meta, target), reference_from_timm(target).cfg)
    x = torch.randn(2, 3, 42, 70)
    with torch.no_grad():
        assert _max_diff(_timm_layers(source, x), reference.forward_intermediates(x, norm=True)) <= TOL


def test_resampling_is_measured_from_the_installed_transformers():
    """Older transformers resampled DINOv2 positions by scale factors with Meta's 0.1 offset: simulate that
    version by patching in Meta's rule; the reference must detect it and match, a new rule must be refused."""
    import torch.nn.functional as F

    assert [hf_pos_resample(_hf_model(kind)) for kind in KINDS] == ["hf", "timm", "hf"]
    hf = _hf_model("dinov2")
    embeddings = hf.embeddings

    def meta_rule(tokens, height, width, mode="bicubic"):
        pos = embeddings.position_embeddings
        M, h, w = 4, height // 14, width // 14
        grid = pos[:, 1:].reshape(1, M, M, -1).permute(0, 3, 1, 2)
        kwargs = {"scale_factor": ((h + 0.1) / M, (w + 0.1) / M)} if mode == "bicubic" else {"size": (h, w)}
        grid = F.interpolate(grid, mode=mode, **kwargs).permute(0, 2, 3, 1).reshape(1, h * w, -1)
        return torch.cat([pos[:, :1], grid], dim=1)

    embeddings.interpolate_pos_encoding = meta_rule
    assert hf_pos_resample(hf) == "dinov2"
    x = torch.randn(1, 3, 42, 70)
    with torch.no_grad():
        expected, _ = _hf_layers(hf, x)
        assert _max_diff(expected, reference_from_hf(hf).forward_intermediates(x, norm=True)) <= TOL
    embeddings.interpolate_pos_encoding = lambda tokens, height, width: meta_rule(tokens, height, width, "bilinear")
    with pytest.raises(BackboneError, match="--impl timm"):
        reference_from_hf(hf)
