"""`hf:<dir or id>`: features exactly as the transformers docs take them, and the offline behaviour.

Models are tiny random-init transformers models saved to a temporary directory; nothing is downloaded
(conftest sets HF_HUB_OFFLINE=1 and an empty HF_HOME).
"""

from __future__ import annotations

import json
import time

import pytest
import torch

from probekit.backbones import build_backbone, resolve_spec
from probekit.backbones.hub import preflight_backbone_weights
from probekit.errors import BackboneError, WeightsError

transformers = pytest.importorskip("transformers")
from tests.hf_factory import tiny_hf_model  # noqa: E402


def _save(kind: str, folder, seed: int = 0):
    model = tiny_hf_model(kind, seed)
    model.save_pretrained(folder)
    return model


@pytest.mark.parametrize("kind", ["dinov2", "dinov2-reg", "siglip"])
@pytest.mark.parametrize("size", [(56, 56), (42, 70)], ids=["native", "42x70"])
def test_features_are_the_documented_outputs(tmp_path, kind, size):
    hf = _save(kind, tmp_path)
    backbone = build_backbone(f"hf:{tmp_path}")
    x = torch.randn(2, 3, *size)
    siglip = kind == "siglip"
    with torch.no_grad():
        out = hf(
            pixel_values=x,
            output_hidden_states=True,
            **({"interpolate_pos_encoding": size != (56, 56)} if siglip else {}),
        )
        features = backbone.forward_layers(x, [0, 2], norm=True)
        raw = backbone.forward_layers(x, [1], norm=False)
    start = 0 if siglip else 1 + (4 if kind == "dinov2-reg" else 0)
    h, w = size[0] // 14, size[1] // 14
    last = features[2]
    torch.testing.assert_close(last.cls, out.pooler_output if siglip else out.last_hidden_state[:, 0])
    torch.testing.assert_close(last.patch, out.last_hidden_state[:, start:].reshape(2, h, w, 64))
    torch.testing.assert_close(last.mean, out.last_hidden_state[:, start:].mean(1))
    norm = hf.post_layernorm if siglip else hf.layernorm
    first = norm(out.hidden_states[1])  # block 0's output through the final norm
    torch.testing.assert_close(features[0].patch, first[:, start:].reshape(2, h, w, 64))
    torch.testing.assert_close(raw[1].patch, out.hidden_states[2][:, start:].reshape(2, h, w, 64))
    assert backbone.global_source == ("attn_pool" if siglip else "cls")
    assert backbone.num_registers == (4 if kind == "dinov2-reg" else 0)


def test_spec_and_description(tmp_path):
    _save("dinov2", tmp_path)
    spec = resolve_spec(f"hf:{tmp_path}")
    assert (spec.builder, spec.model) == ("hf", str(tmp_path))
    described = build_backbone(f"hf:{tmp_path}").describe()
    assert described["impl"] == "transformers" and described["hf_model_type"] == "dinov2"
    assert described["weights_source"] == f"file:{tmp_path.resolve()}" and len(described["weights_sha256"]) == 64
    assert "no antialias" in described["pos_embed_resample"]


def test_preprocessor_config_sets_mean_std_and_resampling(tmp_path):
    _save("siglip", tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": [0.1, 0.2, 0.3], "image_std": [0.4, 0.5, 0.6], "resample": 2})
    )
    pre = build_backbone(f"hf:{tmp_path}").preprocessing
    assert (pre.mean, pre.std, pre.interpolation) == ((0.1, 0.2, 0.3), (0.4, 0.5, 0.6), "bilinear")


def test_random_init_from_the_config_is_seeded(tmp_path):
    _save("dinov2", tmp_path)
    state = torch.random.get_rng_state()
    a = build_backbone(f"hf:{tmp_path}", random_init=True, seed=5)
    b = build_backbone(f"hf:{tmp_path}", random_init=True, seed=5)
    c = build_backbone(f"hf:{tmp_path}", random_init=True, seed=6)
    assert torch.equal(torch.random.get_rng_state(), state)
    key = "embeddings.patch_embeddings.projection.weight"
    assert torch.equal(a.model.state_dict()[key], b.model.state_dict()[key])
    assert not torch.equal(a.model.state_dict()[key], c.model.state_dict()[key])
    assert a.describe()["weights_sha256"] == "random-init(seed=5)"


def test_hub_id_offline_is_one_fast_line_naming_the_fix():
    for random_init in (False, True):
        started = time.perf_counter()
        with pytest.raises(WeightsError) as caught:
            preflight_backbone_weights("hf:facebook/dinov2-small", None, random_init)
        assert time.perf_counter() - started < 1.0
        message = str(caught.value)
        assert "\n" not in message and "hf:/path/to/dir" in message and "HF_HUB_OFFLINE=1" in message
    with pytest.raises(WeightsError, match="save_pretrained"):
        build_backbone("hf:facebook/dinov2-small")


def test_bad_directories_and_options_are_one_line_errors(tmp_path):
    with pytest.raises(BackboneError, match="not a directory"):
        preflight_backbone_weights(f"hf:{tmp_path / 'missing'}", None, False)
    with pytest.raises(BackboneError, match=r"config\.json"):
        build_backbone(f"hf:{tmp_path}")
    with pytest.raises(BackboneError, match="names no model"):
        resolve_spec("hf:")
    _save("dinov2", tmp_path)
    with pytest.raises(BackboneError, match="drop --weights"):
        build_backbone(f"hf:{tmp_path}", weights=tmp_path / "model.safetensors")


def test_unsupported_model_type_is_named(tmp_path):
    transformers.ViTMAEModel(
        transformers.ViTMAEConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            image_size=32,
            patch_size=16,
        )
    ).save_pretrained(tmp_path)
    with pytest.raises(BackboneError, match=r"vit_mae.*supported: dinov2"):
        build_backbone(f"hf:{tmp_path}")
