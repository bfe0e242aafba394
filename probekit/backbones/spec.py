"""What a backbone alias means: the timm model (or other builder) and its arguments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from probekit.errors import BackboneError, StoreError
from probekit.registry import Registry

RANDOM_INIT = "random-init"  # the weights_source of seeded random weights


@dataclass(frozen=True)
class BackboneSpec:
    """A named backbone: which builder makes it and with which arguments.

    `model` is a timm model name, optionally with its pretrained tag (`name.tag`), for the
    `timm` builder; `kwargs` override the architecture (used by the tiny test configs).
    `has_weights` is False for configs that exist only with random weights; `bundled_weights`
    names a file shipped inside the package (probekit/weights/), used instead of the hub.
    """

    name: str
    model: str
    builder: str = "timm"
    description: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    has_weights: bool = True
    test_only: bool = False
    bundled_weights: str | None = None


BACKBONES: Registry[BackboneSpec] = Registry("backbone", BackboneError)
# Name prefixes that pick another builder than timm: `hf:<model id or local dir>` -> transformers.
PREFIXES: dict[str, str] = {"hf:": "hf"}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    return BACKBONES.register(spec.name, spec)


def split_prefix(name: str) -> tuple[str, str] | None:
    """(builder, model) for a prefixed name such as 'hf:facebook/dinov2-small', else None."""
    for prefix, builder in PREFIXES.items():
        if name.startswith(prefix):
            model = name[len(prefix) :].strip()
            if not model:
                raise BackboneError(f"{name!r} names no model: use {prefix}<hub id or local directory>")
            return builder, model
    return None


PIXELS_NAME = re.compile(r"pixels-p(\d+)")
MAX_PIXELS_PATCH = 64


def pixels_spec(patch: int) -> BackboneSpec:
    """The pixels baseline at patch size (stride) `patch`: pixels-p8/14/16 are listed aliases, any other size up to
    64 resolves by name (a suite adds pixels-p32 beside a ConvNeXt or ResNet, whose maps have stride 32)."""
    return BackboneSpec(
        name=f"pixels-p{patch}",
        model="pixels",
        builder="pixels",
        kwargs={"patch_size": patch},
        description=f"baseline: raw normalised RGB of each {patch}x{patch} patch",
        has_weights=False,
    )


def resolve_spec(name: str) -> BackboneSpec:
    """An alias from the registry, a prefixed name (`hf:<id or dir>`), or any timm model name."""
    if name in BACKBONES:
        return BACKBONES.get(name)
    if (patch := PIXELS_NAME.fullmatch(name)) and 1 <= int(patch[1]) <= MAX_PIXELS_PATCH:
        return pixels_spec(int(patch[1]))
    if prefixed := split_prefix(name):
        builder, model = prefixed
        return BackboneSpec(name=name, model=model, builder=builder, description=f"{builder} model")
    import timm

    if timm.is_model(name):
        return BackboneSpec(name=name, model=name, description="timm model")
    return BACKBONES.get(name)  # raises with close matches among the aliases


def random_init_id(seed: int) -> str:
    """The weights id of seeded random weights, as stores and results record it ('random-init(seed=N)')."""
    return f"{RANDOM_INIT}(seed={seed})"


def random_init_seed(weights_id: str, source: str = "the store") -> int:
    """The seed of a `random_init_id` (the inverse of that function, kept beside it)."""
    prefix = f"{RANDOM_INIT}(seed="
    digits = weights_id.removeprefix(prefix).removesuffix(")")
    if not (weights_id.startswith(prefix) and weights_id.endswith(")") and digits.isdigit()):
        raise StoreError(
            f"{source} records random-init weights as {weights_id!r}, not {random_init_id(0)!r}: "
            f"pass --backbone NAME --random-init --seed N"
        )
    return int(digits)
