"""The model hub without torch: is a model's weights file cached, is the hub reachable, and the offline error.

Kept free of heavy imports so that the CLI can fail in well under a second when weights can't be had.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from probekit.errors import BackboneError, WeightsError

# Files a timm model's hub repository keeps its weights in.
_HUB_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors", "open_clip_pytorch_model.bin")
# Files a transformers model (hf:<id or dir>) keeps its weights in, single or sharded.
HF_WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)


def hub_offline() -> bool:
    """True when the user asked huggingface_hub to stay offline (HF_HUB_OFFLINE=1)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def hub_cached_file(repo: str | None) -> Path | None:
    """The local hub-cache file holding a hub repository's weights, if downloaded before."""
    if not repo:
        return None
    from huggingface_hub import try_to_load_from_cache

    for filename in _HUB_FILES:
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str):
            return Path(found)
    return None


def hub_unreachable_reason(timeout_s: float = 2.0) -> str | None:
    """Why the hub can't be reached (a quick TCP connect), or None if it can or a proxy decides.

    huggingface_hub retries a failing download for ~50 s per file; this check turns that into
    an immediate one-line error on machines without network.
    """
    if any(os.environ.get(var) for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
    except OSError as error:
        return f"{host} is unreachable ({type(error).__name__})"
    return None


def offline_error(name: str, model_name: str, reason: str) -> WeightsError:
    fail_fast = "" if hub_offline() else "; set HF_HUB_OFFLINE=1 to fail fast offline"
    return WeightsError(
        f"no weights for {name} ({model_name}): {reason}. Fix: pass --weights FILE (a local .pth/.safetensors), "
        f"or download them once with network access{fail_fast}; --random-init gives seeded random weights"
    )


def preflight_hub_weights(name: str, model_name: str, repo: str) -> None:
    """Raise the offline error at once when `repo`'s weights are neither cached nor downloadable."""
    if hub_cached_file(repo) is not None:
        return
    if hub_offline():
        raise offline_error(name, model_name, "HF_HUB_OFFLINE=1 and they are not in the local hub cache")
    if reason := hub_unreachable_reason():
        raise offline_error(name, model_name, f"not in the local hub cache and {reason}")


def preflight_backbone_weights(name: str, weights: str | None, random_init: bool) -> None:
    """Fail fast, before torch and timm load, when an alias's pretrained weights can't be had."""
    from probekit.backbones.spec import BACKBONES, split_prefix

    prefixed = split_prefix(name)
    if prefixed is not None and prefixed[0] == "hf":
        preflight_hf_model(name, prefixed[1], random_init)
        return
    if weights is not None or random_init or name not in BACKBONES:
        return
    spec = BACKBONES.get(name)
    if spec.builder == "timm" and spec.has_weights and "." in spec.model:
        preflight_hub_weights(spec.name, spec.model, f"timm/{spec.model}")


def hf_cached(repo: str, filename: str | None = None) -> Path | None:
    """A file of a transformers hub repository in the local hub cache (its weights when no filename)."""
    from huggingface_hub import try_to_load_from_cache

    for name in (filename,) if filename else HF_WEIGHT_FILES:
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str):
            return Path(found)
    return None


def hf_offline_error(name: str, reason: str) -> WeightsError:
    fail_fast = "" if hub_offline() else "; set HF_HUB_OFFLINE=1 to fail fast offline"
    return WeightsError(
        f"no weights for {name}: {reason}. Fix: pass a local model directory (--backbone hf:/path/to/dir, as "
        f"written by save_pretrained), or download it once with network access{fail_fast}; --random-init needs only "
        f"the model's config.json"
    )


def preflight_hf_model(name: str, source: str, random_init: bool) -> None:
    """`hf:<dir>` must be a model directory; `hf:<hub id>` must be cached (config, and weights unless
    random init) or downloadable. Raises at once instead of after the hub's retries."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise BackboneError(
                f"{folder} has no config.json: pass a directory written by save_pretrained, or a hub id"
            )
        return
    if source.startswith(("/", ".", "~")) or source.count("/") > 1:
        raise BackboneError(
            f"{name}: {folder} is not a directory: pass an existing model directory or a hub id like "
            f"facebook/dinov2-small"
        )
    if hf_cached(source, "config.json") is not None and (random_init or hf_cached(source) is not None):
        return
    if hub_offline():
        raise hf_offline_error(name, "HF_HUB_OFFLINE=1 and it is not in the local hub cache")
    if reason := hub_unreachable_reason():
        raise hf_offline_error(name, f"not in the local hub cache and {reason}")
