"""The asynchronous store writer: the forward pass hands finished batches to a writer thread through a
bounded queue, so it waits on HDF5 only when the queue is full.

Batches are written in order, by one thread, with the store's own `StoreWriter.write` (the per-batch
free-space check, Fletcher-32, progress recorded after each flush). An error there (a full disk, an HDF5
write failure, values beyond float16) stops the thread; the main thread raises that same error at its next
hand-over or when the writer closes, and the batches after it are dropped, so the store stays resumable
at the last batch written. On CUDA the features come off the GPU into pinned host memory with
non-blocking copies; the writer thread waits for the copy's event before reading them.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from probekit.errors import StoreError
from probekit.features.store import StoreWriter

QUEUE_DEPTH = 3  # batches waiting for the writer: enough to ride out a slow flush, bounded host memory
_FP16_MAX = 65504.0
_STOP = None  # the end of the batches


@dataclass
class HostBatch:
    """One batch on its way to the store: features as host tensors (maybe still being copied from the GPU)."""

    start: int
    ids: Sequence[str]
    features: Mapping[int, Mapping[str, torch.Tensor]]  # layer -> output -> (n, ...) host tensor
    peaks: torch.Tensor | None  # (layers,) largest |value| per layer before the float16 cast; None for float32
    targets: Mapping[str, np.ndarray]
    skipped: Sequence[Mapping[str, Any]] = ()
    originals: Sequence[Mapping[str, Any]] = ()
    copied: Any = None  # a torch.cuda.Event recorded after the non-blocking copies; None on CPU


@dataclass
class WriteStats:
    """Images written and seconds spent writing them (the progress bar's write throughput)."""

    images: int = 0
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, images: int, seconds: float) -> None:
        with self._lock:
            self.images += images
            self.seconds += seconds

    def rate(self) -> float:
        with self._lock:
            return self.images / self.seconds if self.seconds > 0 else 0.0


class BackgroundWriter:
    """Writes `HostBatch`es to a `StoreWriter` on a thread; `submit` blocks only while the queue is full.

    Use as a context manager: leaving it drains the queue (every batch handed over is written, also when
    the main thread stops with an error) and joins the thread; `close` also raises the writer's error.
    """

    def __init__(self, writer: StoreWriter, depth: int = QUEUE_DEPTH) -> None:
        self.writer = writer
        self.stats = WriteStats()
        self._queue: queue.Queue[HostBatch | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="probekit-store-writer", daemon=True)
        self._thread.start()

    def submit(self, batch: HostBatch) -> None:
        """Queue a batch for writing; raises the writer's error if an earlier batch failed."""
        self._raise_error()
        self._queue.put(batch)

    def close(self) -> None:
        """Write what is queued, stop the thread, and raise the writer's error if there was one."""
        self._finish()
        self._raise_error()

    def _finish(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is None:
            self.close()
        else:
            self._finish()  # keep what the main thread's error did not concern; its error is the one raised

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is _STOP:
                return
            if self._error is not None:
                continue  # after a failure the rest is dropped (the store resumes at the last batch written)
            began = time.perf_counter()
            try:
                write_batch(self.writer, batch)
            except BaseException as error:  # handed to the main thread, raised there
                self._error = error
                continue
            self.stats.add(len(batch.ids) + len(batch.skipped), time.perf_counter() - began)


def write_batch(writer: StoreWriter, batch: HostBatch) -> None:
    """Wait for the batch's GPU copies, check the float16 range, and write it (in the writer thread)."""
    if batch.copied is not None:
        batch.copied.synchronize()
    if batch.peaks is not None:
        peaks = batch.peaks.tolist()
        for layer, peak in zip(batch.features, peaks, strict=True):
            if peak > _FP16_MAX:
                raise StoreError(f"layer {layer} has values beyond the float16 range: extract with --dtype float32")
    features = {
        layer: {name: values.numpy() for name, values in fields.items()} for layer, fields in batch.features.items()
    }
    writer.write(batch.start, batch.ids, features, batch.targets, skipped=batch.skipped, originals=batch.originals)
