"""Tiny random-init transformers vision models, for the tests that compare probekit with transformers."""

from __future__ import annotations

import torch

KINDS = ("dinov2", "dinov2-reg", "siglip")
TINY = dict(
    hidden_size=64, num_hidden_layers=3, num_attention_heads=2, intermediate_size=256, patch_size=14, image_size=56
)


def tiny_hf_model(kind: str, seed: int = 0, noise: float = 0.0):
    """A tiny `kind` model in eval mode, LayerScale away from 1 so that a dropped gamma shows; `noise` adds
    N(0, noise^2) to every weight (positions and LayerScale included) from a generator seeded `seed + 1`."""
    import transformers

    torch.manual_seed(seed)
    if kind == "dinov2":
        model = transformers.Dinov2Model(transformers.Dinov2Config(**TINY, layerscale_value=0.3))
    elif kind == "dinov2-reg":
        model = transformers.Dinov2WithRegistersModel(
            transformers.Dinov2WithRegistersConfig(**TINY, layerscale_value=0.3, num_register_tokens=4)
        )
    else:
        model = transformers.SiglipVisionModel(transformers.SiglipVisionConfig(**TINY))
    if noise:
        generator = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=generator) * noise)
    return model.eval()
