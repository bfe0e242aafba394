"""How a store's backbone was built (name, weights, random-init seed, impl), and building it again.

`probekit show` draws pictures from stores and results files: the backbone that made them is rebuilt
from what the store recorded (`extract_config`), never guessed from display strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from probekit.backbones.base import Backbone
from probekit.backbones.build import build_backbone
from probekit.backbones.hub import preflight_backbone_weights
from probekit.backbones.spec import RANDOM_INIT, random_init_seed
from probekit.errors import StoreError


@dataclass(frozen=True)
class BackboneRecipe:
    """What `build_backbone` was called with to make a feature store: enough to rebuild the same backbone.

    Every extraction records these fields in the store's `extract_config` attr, so a backbone is
    rebuilt from the recorded settings, never by parsing display strings such as `weights_sha256`.
    """

    name: str
    weights: str | None = None  # a local checkpoint; None = the hub's, or random init
    random_init: bool = False
    seed: int = 0  # of random init
    impl: str = "timm"  # who runs the weights (see probekit.backbones.build.IMPLS)

    @classmethod
    def from_store_attrs(cls, attrs: Mapping[str, Any], source: str = "the store") -> BackboneRecipe:
        """The recipe recorded at extraction; StoreError naming `source` for stores written before it was."""
        config = attrs.get("extract_config")
        if not isinstance(config, Mapping) or not config.get("backbone"):
            raise StoreError(
                f"{source} does not record how its backbone was built (written by an older probekit): "
                f"re-extract it with `probekit extract ... --overwrite`"
            )
        weights = config.get("weights")
        return cls(
            name=str(config["backbone"]),
            weights=str(weights) if weights is not None else None,
            random_init=bool(config.get("random_init", False)),
            seed=int(config.get("seed", 0)),
            impl=str(config.get("impl", "timm")),
        )

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

        preflight_backbone_weights(self.name, self.weights, self.random_init)
        return build_backbone(self.name, self.weights, self.random_init, self.seed, self.impl)
