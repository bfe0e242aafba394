"""glibc's allocator set to keep freed memory: large tensors are reused from the heap, not re-faulted from the kernel.

PyTorch's CPU tensors come from malloc. glibc serves an allocation above its mmap threshold (at most 32 MB) with
fresh pages from mmap and returns them to the kernel on free, so a loop whose activations are that large pays
a page fault (and the kernel's zeroing) for every page of them on every step. On the quickstart's depth probes
(the 256-bin head's maps) that was as much system time as training: one probe took 92 s wall with 84 s of
system time; with the allocator keeping freed memory, 50 s wall and 0.7 s of system time, the same numbers to
the last digit. The cost: the process keeps its peak heap until it exits (resident memory is the peak, not
the current use), which bounded-memory runs measure anyway.

Set PROBEKIT_MALLOC=default to leave glibc's defaults (e.g. to compare). Other C libraries: nothing is changed.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger("probekit")

M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
M_MMAP_MAX = -4
TRIM_THRESHOLD = 2**31 - 1  # bytes free at the heap's top before it shrinks: the most mallopt takes
ENV = "PROBEKIT_MALLOC"


def keep_freed_memory() -> bool:
    """Serve every allocation from the heap and never shrink it (glibc only); True when the setting took."""
    if sys.platform != "linux" or os.environ.get(ENV) == "default":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - glibc, not musl or another C library
    except (OSError, AttributeError):
        return False
    done = bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    log.debug("glibc malloc: mmap off, trim threshold %d bytes (%s)", TRIM_THRESHOLD, "set" if done else "refused")
    return done
