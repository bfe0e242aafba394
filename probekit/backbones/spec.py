"""What a backbone alias means: the timm model (or other builder) and its arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from probekit.errors import BackboneError, StoreError
from probekit.registry import Registry

if TYPE_CHECKING:
    from probekit.backbones.base import Backbone

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
            model = name[len(prefix):].strip()
            if not model:
                raise BackboneError(f"{name!r} names no model: use {prefix}<hub id or local directory>")
            return builder, model
    return None


def resolve_spec(name: str) -> BackboneSpec:
    """An alias from the registry, a prefixed name (`hf:<id or dir>`), or any timm model name."""
    if name in BACKBONES:
        return BACKBONES.get(name)
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
        raise StoreError(f"{source} records random-init weights as {weights_id!r}, not {random_init_id(0)!r}: "
                         f"pass --backbone NAME --random-init --seed N")
    return int(digits)


@dataclass(frozen=True)
class BackboneRecipe:
    """What `build_backbone` was called with to make a feature store: enough to rebuild the same backbone.

    Every extraction records these fields in the store's `extract_config` attr, so a backbone is
    rebuilt from the recorded settings, never by parsing display strings such as `weights_sha256`.
    """

    name: str
    weights: str | None = None  # a local checkpoint; None = the hub's, or random init
    random_init: bool = False
    seed: int = 0               # of random init
    impl: str = "timm"          # who runs the weights (see probekit.backbones.build.IMPLS)

    @classmethod
    def from_store_attrs(cls, attrs: Mapping[str, Any], source: str = "the store") -> BackboneRecipe:
        """The recipe recorded at extraction; StoreError naming `source` for stores written before it was."""
        config = attrs.get("extract_config")
        if not isinstance(config, Mapping) or not config.get("backbone"):
            raise StoreError(f"{source} does not record how its backbone was built (written by an older probekit): "
                             f"re-extract it with `probekit extract ... --overwrite`")
        weights = config.get("weights")
        return cls(name=str(config["backbone"]), weights=str(weights) if weights is not None else None,
                   random_init=bool(config.get("random_init", False)), seed=int(config.get("seed", 0)),
                   impl=str(config.get("impl", "timm")))

    @classmethod
    def from_provenance(cls, backbone: Mapping[str, Any], source: str = "the results file") -> BackboneRecipe:
        """The recipe from the `backbone` section of a results JSON, which copies the store's provenance
        (name, `weights_source`, `weights_sha256`) but not its `extract_config`; `impl` is then timm."""
        origin = str(backbone.get("weights_source") or "")
        name = backbone.get("backbone")
        if not name:
            raise StoreError(f"{source} names no backbone: pass --backbone")
        if origin == RANDOM_INIT:
            return cls(str(name), random_init=True, seed=random_init_seed(str(backbone.get("weights_sha256")), source))
        return cls(str(name), weights=origin.removeprefix("file:") if origin.startswith("file:") else None)

    def build(self) -> Backbone:
        """The backbone itself, frozen, in eval mode (weights checked first, offline)."""
        from probekit.backbones.build import build_backbone
        from probekit.backbones.hub import preflight_backbone_weights

        preflight_backbone_weights(self.name, self.weights, self.random_init)
        return build_backbone(self.name, self.weights, self.random_init, self.seed, self.impl)
