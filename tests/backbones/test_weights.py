"""Local checkpoints: timm layout (.safetensors), Meta's original DINOv2 layout (.pth), training containers."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from probekit.backbones import build_backbone
from probekit.errors import WeightsError


def _features(backbone, seed: int = 0) -> dict:
    x = torch.randn(
        2, 3, 3 * backbone.patch_size, 4 * backbone.patch_size, generator=torch.Generator().manual_seed(seed)
    )
    out = backbone.forward_layers(x, [0, backbone.depth - 1], norm=True)
    return {k: (v.cls, v.mean, v.patch) for k, v in out.items()}


def _assert_same_features(a, b) -> None:
    fa, fb = _features(a), _features(b)
    for layer in fa:
        for x, y in zip(fa[layer], fb[layer], strict=True):
            # Meta's layout splits the reg models' CLS into cls_token + pos_embed[:, 0]; re-adding
            # them rounds differently in the last bit, hence 1e-4 rather than exact equality.
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)


def _to_meta_layout(state: dict[str, torch.Tensor], registers: bool) -> dict[str, torch.Tensor]:
    """timm DINOv2 keys -> the key layout of Meta's released dinov2_vit*14*_pretrain.pth files."""
    meta = {k: v.clone() for k, v in state.items()}
    meta["mask_token"] = torch.zeros(1, state["cls_token"].shape[-1])
    if registers:
        # Meta adds pos_embed[:, 0] to the CLS token; timm's reg4 models fold it into cls_token.
        pos_cls = torch.randn(1, 1, state["cls_token"].shape[-1])
        meta["register_tokens"] = meta.pop("reg_token")
        meta["cls_token"] = state["cls_token"] - pos_cls
        meta["pos_embed"] = torch.cat([pos_cls, state["pos_embed"]], dim=1)
    return meta


@pytest.mark.parametrize("name", ["test-dinov2", "test-dinov2-reg"])
def test_meta_dinov2_checkpoint_loads_to_the_same_features(tmp_path, name):
    source = build_backbone(name, random_init=True, seed=7)
    meta = _to_meta_layout(source.model.state_dict(), registers=source.num_registers > 0)
    assert "mask_token" in meta and ("register_tokens" in meta) == (source.num_registers > 0)
    path = tmp_path / "dinov2_pretrain.pth"
    torch.save(meta, path)
    loaded = build_backbone(name, weights=path)
    _assert_same_features(source, loaded)
    assert loaded.weights_source.startswith("file:") and len(loaded.weights_id) == 64


def test_meta_training_checkpoint_with_teacher_container_and_chunked_blocks(tmp_path):
    source = build_backbone("test-dinov2", random_init=True, seed=8)
    meta = _to_meta_layout(source.model.state_dict(), registers=False)
    # DINOv2 training checkpoints: {"teacher": {"backbone.blocks.<chunk>.<i>...", "dino_head...."}}
    chunked = {}
    for key, value in meta.items():
        if key.startswith("blocks."):
            index = int(key.split(".")[1])
            key = key.replace(f"blocks.{index}.", f"blocks.{index // 2}.{index}.", 1)
        chunked[f"backbone.{key}"] = value
    chunked["dino_head.last_layer.weight"] = torch.zeros(3, 3)
    path = tmp_path / "teacher_checkpoint.pth"
    torch.save({"teacher": chunked, "iteration": 10}, path)
    _assert_same_features(source, build_backbone("test-dinov2", weights=path))


def test_timm_layout_safetensors(tmp_path):
    source = build_backbone("test-siglip", random_init=True, seed=9)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in source.model.state_dict().items()}, str(path))
    _assert_same_features(source, build_backbone("test-siglip", weights=path))


def test_wrong_architecture_is_a_clear_error(tmp_path):
    source = build_backbone("test-vit", random_init=True)
    path = tmp_path / "vit.pth"
    torch.save(source.model.state_dict(), path)
    with pytest.raises(WeightsError, match="does not fit"):
        build_backbone("test-dinov2-reg", weights=path)


def test_missing_or_garbage_file(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        build_backbone("test-dinov2", weights=tmp_path / "nope.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        build_backbone("test-dinov2", weights=garbage)


def test_random_init_is_seeded():
    a, b = build_backbone("test-vit", random_init=True, seed=1), build_backbone("test-vit", random_init=True, seed=1)
    _assert_same_features(a, b)
    c = build_backbone("test-vit", random_init=True, seed=2)
    assert not torch.equal(a.model.pos_embed, c.model.pos_embed)
