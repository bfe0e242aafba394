"""Who made a file and how: versions, git sha, times, short content hashes."""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any


def short_hash(*parts: Any, length: int = 16) -> str:
    """A stable hex digest of JSON-serialisable parts (dict keys sorted)."""
    payload = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()[:length]


@cache
def git_sha() -> str:
    """The commit of the probekit checkout this code runs from, or 'unknown' for an installed wheel."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def versions() -> dict[str, str]:
    """Versions of the libraries that decide the numbers."""
    import h5py
    import numpy
    import timm
    import torch

    from probekit import __version__

    return {
        "probekit": __version__,
        "torch": torch.__version__,
        "timm": timm.__version__,
        "numpy": numpy.__version__,
        "h5py": h5py.__version__,
    }


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
