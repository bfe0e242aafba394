"""`build_backbone(name)`: the one entry point from a name (alias or timm model) to a frozen Backbone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from probekit.backbones.base import Backbone
from probekit.backbones.hf_backbone import build_hf_backbone
from probekit.backbones.pixels import build_pixels_backbone
from probekit.backbones.reference_backbone import to_reference
from probekit.backbones.spec import resolve_spec
from probekit.backbones.timm_backbone import build_timm_backbone
from probekit.errors import BackboneError
from probekit.registry import Registry

BUILDERS: Registry[Callable[..., Backbone]] = Registry("backbone builder", BackboneError)
BUILDERS.register("timm", build_timm_backbone)
BUILDERS.register("pixels", build_pixels_backbone)
BUILDERS.register("hf", build_hf_backbone)

# Who runs the forward pass of the built weights (`--impl`): the library that built them (timm, or
# transformers for hf: names), or probekit's from-scratch reference ViT (probekit.models.vit).
IMPLS: Registry[Callable[[Backbone], Backbone]] = Registry("backbone implementation (--impl)", BackboneError)
IMPLS.register("timm", lambda backbone: backbone)
IMPLS.register("reference", to_reference)


def build_backbone(
    name: str, weights: str | Path | None = None, random_init: bool = False, seed: int = 0, impl: str = "timm"
) -> Backbone:
    """A frozen backbone in eval mode.

    Weights come from `weights` (a local .pth/.safetensors file), from seeded random init
    (`random_init=True`, the baseline every comparison needs), or from the hub. `impl` picks who
    runs them (see IMPLS).
    """
    if weights is not None and random_init:
        raise BackboneError("--weights and --random-init exclude each other: choose one")
    implement = IMPLS.get(impl)
    spec = resolve_spec(name)
    builder = BUILDERS.get(spec.builder)
    return implement(
        builder(spec, weights=Path(weights) if weights is not None else None, random_init=random_init, seed=seed)
    )
