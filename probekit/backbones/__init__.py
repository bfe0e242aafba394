"""Frozen encoders behind one contract: per layer, a global vector, the patch mean and the patch grid.

The registry of names is importable without torch (the CLI checks names and weights before the
heavy imports); the torch parts load on first use.
"""

from importlib import import_module
from typing import Any

from probekit.backbones import aliases as _aliases  # noqa: F401 - registers the aliases
from probekit.backbones.recipe import BackboneRecipe
from probekit.backbones.spec import BACKBONES, BackboneSpec, register_backbone, resolve_spec

_LAZY = {
    "Backbone": "probekit.backbones.base",
    "LayerFeatures": "probekit.backbones.base",
    "Preprocessing": "probekit.backbones.base",
    "build_backbone": "probekit.backbones.build",
    "resolve_layers": "probekit.backbones.layers",
}

__all__ = ["BACKBONES", "BackboneRecipe", "BackboneSpec", "register_backbone", "resolve_spec", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
