"""probekit-tiny: the learned backbone shipped inside the package works offline, out of the box."""

import torch
from safetensors.torch import load_file

from probekit.backbones import build_backbone
from probekit.backbones.hub import preflight_backbone_weights
from probekit.backbones.spec import resolve_spec
from probekit.backbones.timm_backbone import bundled_weights_path
from probekit.backbones.weights import sha256_file


def test_the_shipped_file_is_small_and_loads_strictly_offline():
    path = bundled_weights_path(resolve_spec("probekit-tiny"))
    assert path.is_file() and path.stat().st_size <= 25 * 2**20
    preflight_backbone_weights("probekit-tiny", None, False)  # no hub involved: must not raise offline
    backbone = build_backbone("probekit-tiny")
    assert backbone.weights_source == "bundled:probekit-tiny.safetensors"
    assert backbone.weights_id == sha256_file(path)
    stored = load_file(str(path))
    loaded = backbone.model.state_dict()
    assert set(stored) == set(loaded)
    for key, value in stored.items():
        torch.testing.assert_close(loaded[key], value.to(loaded[key].dtype))


def test_learned_weights_are_not_the_random_init():
    x = torch.randn(2, 3, 64, 64)
    learned = build_backbone("probekit-tiny").forward_layers(x, [5], True)[5].patch
    random = build_backbone("probekit-tiny", random_init=True).forward_layers(x, [5], True)[5].patch
    assert learned.shape == random.shape == (2, 8, 8, 192)
    assert not torch.allclose(learned, random, atol=1e-2)
