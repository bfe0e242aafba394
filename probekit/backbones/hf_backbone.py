"""`--backbone hf:<model id or local dir>`: a transformers vision model, features as the HF docs take them.

CLS = last_hidden_state[:, 0] and patches = last_hidden_state[:, 1 + registers:] (DINOv2, DINOv2 with
registers); SigLIP has no CLS: its global is `pooler_output` (the attention-pool head) and every token
is a patch. Other layers come from `output_hidden_states=True` (hidden_states[i + 1] is block i's
output), through the model's final LayerNorm when `norm` is on, as for timm. Sizes other than the
native one use the model's own `interpolate_pos_encoding`.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from probekit.backbones.base import Backbone, LayerFeatures, Preprocessing
from probekit.backbones.hub import HF_WEIGHT_FILES, hf_cached, preflight_hf_model
from probekit.backbones.spec import RANDOM_INIT, BackboneSpec, random_init_id
from probekit.backbones.weights import sha256_file
from probekit.errors import BackboneError, ProbekitError, WeightsError
from probekit.models.configs import hf_family, hf_num_prefix
from probekit.models.convert import hf_pos_resample, hf_vision_tower

# What each family's own `interpolate_pos_encoding` does, recorded as `pos_embed_resample`.
_RESAMPLE_NOTES = {
    "hf": "transformers interpolate_pos_encoding: bicubic to the grid size, no antialias, per input size",
    "dinov2": (
        "transformers interpolate_pos_encoding: bicubic, scale factors (n + 0.1) / N, no antialias, per input size"
    ),
    "timm": "transformers interpolate_pos_encoding: bicubic to the grid size, antialias=True, per input size",
}
# PIL resampling codes in preprocessor_config.json -> probekit's interpolation names.
_PIL_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


def _side(value: int | list[int] | tuple[int, ...]) -> int:
    return int(value[0] if isinstance(value, (list, tuple)) else value)


class HfBackbone(Backbone):
    """A frozen transformers DINOv2 / DINOv2-with-registers / SigLIP vision model."""

    impl = "transformers"
    # a transformers vision tower: its config and outputs differ by family, shared by duck typing only
    model: Any

    def __init__(
        self,
        name: str,
        model_name: str,
        model: nn.Module,
        weights_id: str,
        weights_source: str,
        preprocessing: Preprocessing | None = None,
    ):
        super().__init__()
        self.model = hf_vision_tower(model).eval().requires_grad_(False)
        config = self.model.config
        self.family = hf_family(config)
        self.name, self.model_name = name, model_name
        self.patch_size = _side(config.patch_size)
        self.embed_dim = int(config.hidden_size)
        self.depth = int(config.num_hidden_layers)
        self.num_prefix_tokens = hf_num_prefix(config)
        has_pool = getattr(self.model, "head", None) is not None
        self.global_source = self.family.global_source if self.family.global_source == "cls" or has_pool else "mean"
        self.num_registers = self.num_prefix_tokens - int(self.global_source == "cls")
        self.native_grid = (_side(config.image_size) // self.patch_size,) * 2
        self.final_norm = getattr(self.model, self.family.final_norm)
        self.preprocessing = preprocessing or Preprocessing(mean=self.family.pixel_mean, std=self.family.pixel_std)
        self.weights_id, self.weights_source = weights_id, weights_source
        try:  # measured, not assumed: it changed across transformers versions
            self.pos_resample_kind = hf_pos_resample(self.model)
        except BackboneError:  # a variant the reference lacks; this backend runs it all the same
            self.pos_resample_kind = "other"
        self.pos_embed_resample = _RESAMPLE_NOTES.get(
            self.pos_resample_kind, f"transformers {_transformers_version()} interpolate_pos_encoding, per input size"
        )
        # DINOv2 always interpolates; SigLIP must be asked to (and refuses other sizes otherwise).
        self._asks_interpolation = "interpolate_pos_encoding" in inspect.signature(self.model.forward).parameters

    @torch.inference_mode()
    def forward_layers(self, x: torch.Tensor, layers: list[int], norm: bool) -> dict[int, LayerFeatures]:
        B, _, H, W = x.shape
        if H % self.patch_size or W % self.patch_size:
            raise BackboneError(f"input {H}x{W} is not a multiple of the patch size {self.patch_size}")
        grid = (H // self.patch_size, W // self.patch_size)
        kwargs = {"interpolate_pos_encoding": grid != self.native_grid} if self._asks_interpolation else {}
        out = self.model(pixel_values=x, output_hidden_states=True, **kwargs)
        features = {}
        for layer in layers:
            last = layer == self.depth - 1 and norm
            # the documented outputs for the last layer; block `layer`'s output (+ final norm) otherwise
            tokens = out.last_hidden_state if last else out.hidden_states[layer + 1]  # (B, prefix + h*w, D)
            tokens = tokens if last or not norm else self.final_norm(tokens)
            patches = tokens[:, self.num_prefix_tokens :]  # (B, h*w, D)
            features[layer] = LayerFeatures(
                cls=out.pooler_output if last and self.global_source != "mean" else self._global(tokens, patches, norm),
                mean=patches.mean(dim=1),
                patch=patches.reshape(B, *grid, -1),
            )
        return features

    def _global(self, tokens: torch.Tensor, patches: torch.Tensor, normed: bool) -> torch.Tensor:
        if self.global_source == "cls":
            return tokens[:, 0]  # (B, D)
        if self.global_source == "attn_pool":
            # the head was trained on final-normed tokens (as in TimmBackbone)
            pooled: torch.Tensor = self.model.head(tokens if normed else self.final_norm(tokens))  # (B, D)
            return pooled
        return patches.mean(dim=1)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "impl": self.impl,
            "hf_model_type": self.family.model_type,
            "hf_pos_resample": self.pos_resample_kind,
        }


def _preprocessing(folder: Path | None) -> Preprocessing | None:
    """mean / std / resampling from a preprocessor_config.json, where there is one."""
    file = folder / "preprocessor_config.json" if folder is not None else None
    if file is None or not file.is_file():
        return None
    values = json.loads(file.read_text())
    if "image_mean" not in values or "image_std" not in values:
        return None
    return Preprocessing(
        mean=tuple(values["image_mean"]),
        std=tuple(values["image_std"]),
        interpolation=_PIL_RESAMPLE.get(values.get("resample"), "bicubic"),
    )


def build_hf_backbone(
    spec: BackboneSpec, weights: Path | None = None, random_init: bool = False, seed: int = 0
) -> HfBackbone:
    """`AutoModel` from a local directory (no network) or the hub, or seeded random init from its `AutoConfig`."""
    try:
        import transformers
    except ImportError:
        raise BackboneError(f"{spec.name} needs transformers: pip install 'probekit[hf]'") from None
    if weights is not None:
        raise BackboneError(
            f"{spec.name}: hf: models load their weights from their directory or hub id; drop --weights"
        )
    source = spec.model
    folder = Path(source).expanduser()
    local = folder.is_dir()
    preflight_hf_model(spec.name, source, random_init)
    options: dict[str, Any] = {"local_files_only": True} if local else {}
    try:
        if random_init:
            config = transformers.AutoConfig.from_pretrained(str(folder) if local else source, **options)
            with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG state
                torch.manual_seed(seed)
                model = transformers.AutoModel.from_config(config)  # type: ignore[no-untyped-call]  # untyped upstream
        else:
            model = transformers.AutoModel.from_pretrained(str(folder) if local else source, **options)
    except ProbekitError:
        raise
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(f"cannot load {spec.name}: {type(error).__name__}: {reason}") from None
    model = model.float()
    if random_init:
        weights_id, weights_source = random_init_id(seed), RANDOM_INIT
    else:
        file = (
            next((folder / f for f in HF_WEIGHT_FILES if (folder / f).is_file()), None) if local else hf_cached(source)
        )
        weights_id = sha256_file(file) if file is not None else "unknown"
        weights_source = f"file:{folder.resolve()}" if local else f"hub:{source}"
    cached_config = hf_cached(source, "config.json") if not local else None
    preprocessing = _preprocessing(folder if local else (cached_config.parent if cached_config else None))
    model_name = f"{type(hf_vision_tower(model)).__name__}:{folder.resolve() if local else source}"
    return HfBackbone(spec.name, model_name, model, weights_id, weights_source, preprocessing)
