"""Device choice shared by extraction and probe training."""

from __future__ import annotations

import torch

from probekit.errors import ProbekitError

USAGE = "use auto, cpu, cuda, cuda:N or mps"


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when present, else CPU; anything else as torch spells it ('cpu', 'cuda:1'), checked to
    exist here."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ProbekitError(f"unknown --device {name!r}: {USAGE}") from None
    _require_available(device, name)
    return device


def _require_available(device: torch.device, name: str) -> None:
    """A ProbekitError naming --device when torch has no such device on this machine."""
    if device.type == "cpu":
        return
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ProbekitError(f"--device {name}: no CUDA device is available here: use --device cpu (or auto)")
        if device.index is not None and device.index >= count:
            raise ProbekitError(f"--device {name}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
        return
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ProbekitError(f"--device {name}: MPS is not available here: use --device cpu (or auto)")
        return
    raise ProbekitError(f"unsupported --device {name!r}: {USAGE}")
