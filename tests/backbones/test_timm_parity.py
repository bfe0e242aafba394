"""Features in the store equal timm's own forward on the same preprocessed images (fp16 tolerance).

The reference is an independent timm model built at the exact input size (pos-embeds resampled
once by timm's checkpoint filter, not per forward) whose block outputs are captured with hooks
and passed through the final norm, so neither `forward_intermediates` nor probekit's code is
on the reference path.
"""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch

from probekit.backbones import build_backbone
from probekit.data import open_dataset
from probekit.features import ExtractConfig, FeatureStore, extract

CASES = ["test-dinov2", "test-dinov2-reg", "test-siglip", "test-vit", "test-dinov3"]


def _reference_tokens(backbone, images: np.ndarray, layers: list[int]) -> dict[int, torch.Tensor]:
    """Normed token sequences (B, N, D) of the chosen blocks from a fresh timm model at the image size."""
    H, W = images.shape[1:3]
    source = backbone.model
    module = __import__(type(source).__module__, fromlist=["checkpoint_filter_fn"])
    reference = timm.create_model(
        source.pretrained_cfg["architecture"],
        pretrained=False,
        num_classes=0,
        img_size=(H, W),
        **_arch_kwargs(backbone.name),
    ).eval()
    reference.load_state_dict(module.checkpoint_filter_fn(source.state_dict(), reference))
    mean = np.array(backbone.preprocessing.mean, dtype=np.float32)
    std = np.array(backbone.preprocessing.std, dtype=np.float32)
    x = torch.from_numpy(((images / 255.0 - mean) / std).astype(np.float32)).permute(0, 3, 1, 2)
    captured = {}
    hooks = [
        reference.blocks[i].register_forward_hook(lambda m, a, out, i=i: captured.__setitem__(i, out)) for i in layers
    ]
    with torch.no_grad():
        final = reference.forward_features(x)
        for hook in hooks:
            hook.remove()
        tokens = {i: reference.norm(captured[i]) for i in layers}
        if getattr(reference, "attn_pool", None) is not None:
            pooled = {i: reference.forward_head(t, pre_logits=True) for i, t in tokens.items()}
        else:
            pooled = {}
    torch.testing.assert_close(tokens[layers[-1]], final)  # the hooks saw what forward_features returns
    return tokens, pooled, reference.num_prefix_tokens


def _arch_kwargs(name: str) -> dict:
    from probekit.backbones import BACKBONES

    return {k: v for k, v in BACKBONES.get(name).kwargs.items() if k != "img_size"}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("size_in_patches", [(4, 4), (3, 5)], ids=["square", "non-square"])
def test_store_features_equal_timm_forward(tmp_path, name, size_in_patches):
    backbone = build_backbone(name, random_init=True, seed=3)
    P = backbone.patch_size
    size = (size_in_patches[0] * P, size_in_patches[1] * P)
    layers = [1, backbone.depth - 1]
    config = ExtractConfig(
        backbone=name, random_init=True, seed=3, image_size=size, layers="1,-1", batch_size=3, workers=0, limit=5
    )
    path = extract(config, tmp_path / "store.h5", progress=False)

    dataset = open_dataset("synthetic", "train", image_size=size, limit=5)
    images = np.stack([dataset[i]["image"] for i in range(5)])  # (5, H, W, 3) uint8, as extract saw them
    with FeatureStore(path) as store:
        tokens, pooled, num_prefix = _reference_tokens(backbone, images, layers)
        h, w = size_in_patches
        for layer in layers:
            patch = tokens[layer][:, num_prefix:]  # (B, h*w, D)
            expected_global = pooled[layer] if layer in pooled else tokens[layer][:, 0]
            scale = float(tokens[layer].abs().max())
            tol = dict(rtol=2e-3, atol=2e-3 * scale)
            np.testing.assert_allclose(
                store.read("patch", layer=layer).astype(np.float32), patch.reshape(5, h, w, -1).numpy(), **tol
            )
            np.testing.assert_allclose(store.read("mean", layer=layer).astype(np.float32), patch.mean(1).numpy(), **tol)
            np.testing.assert_allclose(
                store.read("cls", layer=layer).astype(np.float32), expected_global.numpy(), **tol
            )
