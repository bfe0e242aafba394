"""What a backbone alias means: the timm model (or other builder) and its arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from probekit.errors import BackboneError
from probekit.registry import Registry


@dataclass(frozen=True)
class BackboneSpec:
    """A named backbone: which builder makes it and with which arguments.

    `model` is a timm model name, optionally with its pretrained tag (`name.tag`), for the
    `timm` builder; `kwargs` override the architecture (used by the tiny test configs).
    `has_weights` is False for configs that exist only with random weights.
    """

    name: str
    model: str
    builder: str = "timm"
    description: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    has_weights: bool = True
    test_only: bool = False


BACKBONES: Registry[BackboneSpec] = Registry("backbone", BackboneError)


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    return BACKBONES.register(spec.name, spec)


def resolve_spec(name: str) -> BackboneSpec:
    """An alias from the registry, or any timm model name (with or without a pretrained tag)."""
    if name in BACKBONES:
        return BACKBONES.get(name)
    import timm

    if timm.is_model(name):
        return BackboneSpec(name=name, model=name, description="timm model")
    return BACKBONES.get(name)  # raises with close matches among the aliases
