"""Feature-map backbones (ConvNeXt, ResNet, Swin): stages as layers, each with its own grid, width and stride.

The parity reference is an independent timm model (same architecture, the backbone's weights loaded into it)
run through timm's own `forward_intermediates`; the store is float32, so the maps must be equal, not close.
"""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch

from probekit.backbones import BACKBONES, build_backbone
from probekit.backbones.timm_maps import TimmMapBackbone, hooked_maps
from probekit.data import open_dataset
from probekit.errors import BackboneError
from probekit.features import ExtractConfig, FeatureStore, extract
from probekit.features.preprocess import normalise

FAMILIES = ["test-convnext", "test-resnet", "test-swin"]
SIZE = (64, 96)  # a multiple of the total stride 32, not square


def _reference(backbone: TimmMapBackbone, name: str) -> torch.nn.Module:
    """A fresh timm model of the same architecture holding the backbone's weights."""
    spec = BACKBONES.get(name)
    kwargs = dict(spec.kwargs, num_classes=0)
    if "swin" in spec.model:
        kwargs["dynamic_img_size"] = True
    reference = timm.create_model(spec.model, pretrained=False, **kwargs).eval()
    reference.load_state_dict(backbone.model.state_dict())
    return reference


@pytest.mark.parametrize("name", FAMILIES)
def test_stored_maps_equal_timm_forward_intermediates(tmp_path, name):
    backbone = build_backbone(name, random_init=True, seed=3)
    assert isinstance(backbone, TimmMapBackbone)
    layers = list(range(backbone.depth))
    config = ExtractConfig(
        backbone=name, random_init=True, seed=3, image_size=SIZE, layers="all", batch_size=3, workers=0, limit=5,
        dtype="float32",
    )  # fmt: skip
    path = extract(config, tmp_path / "store.h5", progress=False)

    dataset = open_dataset("synthetic", "train", image_size=SIZE, limit=5)
    images = torch.from_numpy(np.stack([dataset[i]["image"] for i in range(5)]))  # (5, H, W, 3) uint8
    reference = _reference(backbone, name)
    with torch.no_grad():  # the same batches as the extraction (3 + 2 images)
        batches = [
            reference.forward_intermediates(
                normalise(images[i : i + 3], backbone.preprocessing),
                indices=layers,
                norm=config.norm,  # the extract default: timm's final norm on the last stage (Swin's LayerNorm)
                intermediates_only=True,
            )
            for i in (0, 3)
        ]
    with FeatureStore(path) as store:
        assert store.attrs["layer_strides"] == backbone.strides
        assert store.attrs["global_source"] == "avgpool"
        for k in layers:
            fmap = torch.cat([batch[k] for batch in batches])  # (5, D, h, w)
            stride = backbone.strides[k]
            assert store.grid_of(k) == (SIZE[0] // stride, SIZE[1] // stride)
            assert store.dim_of(k) == fmap.shape[1] and store.stride_of(k) == stride
            np.testing.assert_array_equal(store.read("patch", layer=k), fmap.permute(0, 2, 3, 1).numpy())
            pooled = store.read("cls", layer=k)
            np.testing.assert_array_equal(pooled, store.read("mean", layer=k))  # avgpool: cls and mean agree
            np.testing.assert_allclose(pooled, fmap.mean(dim=(2, 3)).numpy(), rtol=1e-6, atol=1e-6)


def test_hooks_fallback_gives_the_same_maps():
    """Models without forward_intermediates are read through hooks on their feature_info modules."""
    backbone = build_backbone("test-convnext", random_init=True)
    x = torch.randn(2, 3, *SIZE)
    layers = [1, 3]
    expected = backbone.feature_maps(x, layers, norm=False)
    hooked = hooked_maps(backbone.model, [backbone.stage_modules[k] for k in layers], x)
    for a, b in zip(expected, hooked, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_input_must_be_a_multiple_of_the_total_stride():
    backbone = build_backbone("test-resnet", random_init=True)
    with pytest.raises(BackboneError, match="total stride 32"):
        backbone.forward_layers(torch.zeros(1, 3, 48, 64), [4], norm=False)


def test_public_aliases_name_real_timm_weights():
    """The aliases point at pretrained tags timm knows (no download: the names only)."""
    tags = {name: BACKBONES.get(name).model for name in ("convnext-t", "convnext-b", "convnext-b-clip", "resnet-50")}
    known = set(timm.list_pretrained())
    assert set(tags.values()) <= known, set(tags.values()) - known


def test_backbones_command_lists_stage_strides(monkeypatch):
    from typer.testing import CliRunner

    from probekit.cli import app
    from probekit.errors import BackboneError
    from probekit.registry import Registry

    listed: Registry = Registry("backbone", BackboneError)  # a few aliases: building all of them takes 15 s
    for name in ("convnext-t", "test-convnext", "test-resnet", "test-vit"):
        listed.register(name, BACKBONES.get(name))
    monkeypatch.setattr("probekit.backbones.listing.BACKBONES", listed)
    result = CliRunner().invoke(app, ["backbones", "--test"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines() if line.strip()}
    assert rows["test-convnext"][2] == "4,8,16,32" and rows["test-resnet"][2] == "2,4,8,16,32"
    assert rows["convnext-t"][1] == "convnext_tiny.fb_in1k" and rows["test-vit"][2] == "16"
