"""Progress on stderr: a live bar in a terminal, one plain line per 10% in logs (CI, nohup), none with --quiet.

A log file gets no carriage-return updates: each line it receives is whole and ends in a newline.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm import tqdm

LOG_EVERY_PERCENT = 10


class LineProgress:
    """The progress bar of a non-terminal stderr: a line at every `every` percent crossed, and one at `close`."""

    def __init__(
        self, total: int | None, desc: str, unit: str, initial: int = 0, every: int = LOG_EVERY_PERCENT
    ) -> None:
        self.total, self.desc, self.unit, self.n, self.every = total, desc, unit, initial, every
        self.postfix = ""
        self._start = time.monotonic()
        self._next = self._mark_after(initial)
        self._written: int | None = None  # the count of the last line written
        self._closed = False

    def _percent(self) -> int:
        return int(100 * self.n // self.total) if self.total else 0

    def _mark_after(self, n: int) -> int:
        """The next multiple of `every` percent above the progress at `n` items."""
        percent = int(100 * n // self.total) if self.total else 0
        return (percent // self.every + 1) * self.every

    def update(self, n: int = 1) -> None:
        """Count `n` more items; write a line when a 10% mark (short of 100%) is crossed."""
        self.n += n
        if self.total and self._percent() >= self._next and self.n < self.total:
            self._write()
            self._next = self._mark_after(self.n)

    def set_postfix(self, **values: Any) -> None:
        """Shown at the end of the following lines, as tqdm shows it after the bar."""
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def close(self) -> None:
        """Write the final line (once), wherever the count stopped, unless the last line already says it."""
        if not self._closed:
            self._closed = True
            if self._written != self.n:
                self._write()

    def _write(self) -> None:
        elapsed = tqdm.format_interval(time.monotonic() - self._start)
        count = f"{self._percent()}% {self.n}/{self.total}" if self.total else f"{self.n}"
        postfix = f", {self.postfix}" if self.postfix else ""
        stream = sys.stderr
        stream.write(f"{self.desc}: {count} {self.unit} [{elapsed}{postfix}]\n")
        stream.flush()
        self._written = self.n


def progress_bar(total: int, desc: str, unit: str, enabled: bool = True, initial: int = 0) -> tqdm | LineProgress:
    """A live tqdm bar when stderr is a terminal, a `LineProgress` when it is not, a silent one when disabled."""
    if enabled and not sys.stderr.isatty():
        return LineProgress(total, desc, unit, initial=initial)
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        disable=not enabled,
        dynamic_ncols=True,
        mininterval=0.1,
        file=sys.stderr,
    )
