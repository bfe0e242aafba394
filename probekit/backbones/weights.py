"""Weights from local checkpoint files: timm layout, Meta's DINOv2 layout, training containers."""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import torch
from torch import nn

from probekit.errors import WeightsError
from probekit.models.state_dict import state_dict_mismatch

# Containers that training scripts wrap a backbone's state dict in, most specific first.
_CONTAINER_KEYS = ("teacher", "model", "state_dict", "module")
# Prefixes that wrappers (DDP, torch.compile, SSL trainers) put in front of backbone keys.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.", "backbone.", "encoder.")


def sha256_file(path: Path, chunk_bytes: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors or .pth/.pt/.bin file, unwrapped from training containers."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist: pass the path of a local .pth or .safetensors file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise WeightsError(
            f"cannot read weights file {path}: {type(error).__name__}: {error}".splitlines()[0]
        ) from None
    return _unwrap(state, path)


def _unwrap(state: object, path: Path) -> dict[str, torch.Tensor]:
    while isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        key = next((k for k in _CONTAINER_KEYS if isinstance(state.get(k), dict)), None)
        if key is None:
            raise WeightsError(
                f"{path} holds no tensors at its top level nor under any of {', '.join(_CONTAINER_KEYS)}"
            )
        state = state[key]
    if not isinstance(state, dict):
        raise WeightsError(f"{path} does not contain a state dict (found {type(state).__name__})")
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    for prefix in _WRAPPER_PREFIXES:
        if any(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    # Meta's FSDP checkpoints chunk the blocks: blocks.<chunk>.<i>.* -> blocks.<i>.*
    return {re.sub(r"^blocks\.\d+\.(\d+)\.", r"blocks.\1.", k): v for k, v in tensors.items()}


def load_weights_file(model: nn.Module, path: Path) -> None:
    """Load a local checkpoint into a timm model, converting Meta's DINOv2 layout and resampling pos-embeds."""
    state = read_state_dict(path)
    convert = getattr(sys.modules[type(model).__module__], "checkpoint_filter_fn", None)
    if convert is not None:
        # timm's own converter: Meta DINOv2 keys (mask_token, register_tokens, SwiGLU w12/w3),
        # OpenAI CLIP keys, pos-embed resampling to the model's grid.
        state = convert(state, model)
    if isinstance(getattr(model, "head", None), nn.Identity):
        state = {k: v for k, v in state.items() if not k.startswith("head.")}
    problems = state_dict_mismatch(model, state)
    if problems:
        raise WeightsError(f"{path} does not fit {type(model).__name__}: {problems}; is it the right architecture?")
    model.load_state_dict(state)
