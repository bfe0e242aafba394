"""Progress bars on stderr: live in a terminal, a line every 30 s in logs (CI, nohup), none with --quiet."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: int, desc: str, unit: str, enabled: bool = True, initial: int = 0) -> tqdm:
    interactive = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True,
                mininterval=0.1 if interactive else 30.0, file=sys.stderr)
