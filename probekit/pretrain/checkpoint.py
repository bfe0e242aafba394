"""Resumable training state: student, teacher, optimizer, loss centers, step, run length and RNG states."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from probekit.pretrain.config import PretrainConfig, PretrainError

# Settings that may change between a run and its resumption (they do not change the numbers).
_RESUMABLE_CHANGES = {"steps", "max_minutes", "device", "log_every", "checkpoint_every_minutes", "workers", "compile"}


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically: a killed save leaves the previous checkpoint intact."""
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    partial.replace(path)


def load_checkpoint(path: Path, config: PretrainConfig) -> dict[str, Any]:
    """The state saved at `path`, after checking it was made with the same settings as `config`."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - any reader failure is a bad file for the user
        raise PretrainError(f"cannot read checkpoint {path}: {type(error).__name__}; delete it to start over") from None
    saved, now = state["config"], config.to_dict()
    changed = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k) and k not in _RESUMABLE_CHANGES)
    if changed:
        raise PretrainError(f"{path} was made with other settings ({', '.join(changed)}): "
                            "use the same config, another --out, or --no-resume")
    return state
