"""Resumable training state: student, teacher, optimizer, loss centers, step, run length and RNG states.

Checkpoints hold only tensors and plain containers (the Python RNG state is stored as a tensor), so
they are read with `torch.load(weights_only=True)`: a crafted checkpoint.pt in --out cannot run code.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch

from probekit.pretrain.config import PretrainConfig, PretrainError

FORMAT = 2  # 1 (no "format" key): the Python RNG state pickled as a tuple
KEYS = {
    "format",
    "step",
    "total_steps",
    "config",
    "student",
    "teacher",
    "optimizer",
    "dino_loss",
    "ibot_loss",
    "generator",
    "mask_rng",
}
# Settings that may change between a run and its resumption (they do not change the numbers).
_RESUMABLE_CHANGES = {"steps", "max_minutes", "device", "log_every", "checkpoint_every_minutes", "workers", "compile"}


def python_rng_state(rng: random.Random) -> dict[str, Any]:
    """`rng.getstate()` as a tensor and plain values, which a weights-only load accepts."""
    version, internal, gauss_next = rng.getstate()
    return {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss_next": gauss_next}


def set_python_rng_state(rng: random.Random, saved: dict[str, Any]) -> None:
    """Undo `python_rng_state`: the generator continues exactly where the saved one was."""
    rng.setstate((saved["version"], tuple(int(v) for v in saved["internal"].tolist()), saved["gauss_next"]))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically: a killed save leaves the previous checkpoint intact."""
    partial = path.with_name(path.name + ".partial")
    torch.save({"format": FORMAT, **state}, partial)
    partial.replace(path)


def load_checkpoint(path: Path, config: PretrainConfig) -> dict[str, Any]:
    """The state saved at `path`, after checking it was made with the same settings as `config`."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise PretrainError(
            f"cannot read checkpoint {path} ({type(error).__name__}): damaged, or holding Python "
            f"objects, which are never loaded as they could run code; delete it or pass --no-resume"
        ) from None
    if (
        not isinstance(state, dict)
        or state.get("format") != FORMAT
        or not set(state) >= KEYS
        or not isinstance(state["config"], dict)
    ):
        raise PretrainError(
            f"{path} is not a checkpoint of this probekit version (format {FORMAT}): delete it or pass --no-resume"
        )
    saved, now = state["config"], config.to_dict()
    changed = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k) and k not in _RESUMABLE_CHANGES)
    if changed:
        raise PretrainError(
            f"{path} was made with other settings ({', '.join(changed)}): "
            "use the same config, another --out, or --no-resume"
        )
    return state
