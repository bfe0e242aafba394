"""Batches from a feature store without loading it: contiguous blocks, shuffled block order and rows.

Random access into HDF5 with index arrays is ~50x slower than contiguous slices, so training reads
blocks of consecutive samples, visits the blocks in a seeded random order and shuffles rows inside
each block. Memory stays at one block, whatever the size of the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from probekit.features.store import FeatureStore

# reader(store, begin, end) -> arrays for samples [begin, end), first axis = samples
Reader = Callable[[FeatureStore, int, int], dict[str, np.ndarray]]


@dataclass(frozen=True)
class StoreView:
    """The rows of a store a split uses: all of them, or a strided hold-out (every k-th row) or its complement.

    The hold-out is how a validation split is carved from train when no val store is given: strided
    rows are contiguous-slice friendly and spread over the whole store (sorted datasets included).
    """

    store: FeatureStore
    holdout_every: int | None = None
    holdout: bool = False
    every: int = 1  # of the rows above, keep every `every`-th (a strided subset: `strided_subset`)

    def keep(self, begin: int, end: int) -> np.ndarray:
        """Boolean mask over rows [begin, end) of the rows in this view."""
        rows = np.arange(begin, end)
        k = self.holdout_every
        if k is None:
            mask, rank = np.ones(len(rows), dtype=bool), rows
        else:
            held: np.ndarray = rows % k == k - 1
            mask = held if self.holdout else ~held
            rank = rows // k if self.holdout else rows - (rows + 1) // k  # position among the view's rows
        return mask & (rank % self.every == 0) if self.every > 1 else mask

    def __len__(self) -> int:
        return int(self.keep(0, len(self.store)).sum())

    @property
    def name(self) -> str:
        suffix = (
            "" if self.holdout_every is None else f"[{'held-out' if self.holdout else 'kept'} 1/{self.holdout_every}]"
        )
        return f"{self.store.path.name}{suffix}" + (f"[every {self.every}th]" if self.every > 1 else "")


def strided_subset(view: StoreView, size: int | None) -> StoreView:
    """At most `size` rows of `view`, every k-th so they spread over the whole view (None or 0: all of it)."""
    if not size or size >= len(view):
        return view
    return replace(view, every=view.every * -(-len(view) // size))


def iterate_batches(
    view: StoreView,
    reader: Reader,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
    block_batches: int = 8,
) -> Iterator[dict[str, np.ndarray]]:
    """Batches of `reader`'s arrays over the view; deterministic given (seed, epoch)."""
    n = len(view.store)
    block = batch_size * block_batches
    starts = np.arange(0, n, block)
    rng = np.random.default_rng([seed, epoch])
    if shuffle:
        starts = rng.permutation(starts)
    for begin in starts:
        end = min(int(begin) + block, n)
        keep = view.keep(int(begin), end)
        if not keep.any():
            continue
        arrays = {k: v[keep] for k, v in reader(view.store, int(begin), end).items()}
        rows = int(keep.sum())
        order = rng.permutation(rows) if shuffle else np.arange(rows)
        for i in range(0, rows, batch_size):
            pick = order[i : i + batch_size]
            yield {k: v[pick] for k, v in arrays.items()}


def count_batches(view: StoreView, batch_size: int, block_batches: int = 8) -> int:
    """How many batches `iterate_batches` yields per epoch (for the learning-rate schedule)."""
    n, block = len(view.store), batch_size * block_batches
    return sum(-(-int(view.keep(b, min(b + block, n)).sum()) // batch_size) for b in range(0, n, block))


@dataclass(frozen=True)
class SubsetView(StoreView):
    """A chosen set of rows of another view (a few-shot sample): still read in contiguous blocks, masked.

    `rows` are sorted store indices inside `base`; `label` says in the view's name what the subset is.
    """

    base: StoreView | None = None
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), compare=False)
    label: str = "subset"

    def keep(self, begin: int, end: int) -> np.ndarray:
        """Rows [begin, end) that are in `rows` (binary search: the rows are sorted)."""
        lo, hi = np.searchsorted(self.rows, [begin, end])
        mask = np.zeros(end - begin, dtype=bool)
        mask[self.rows[lo:hi] - begin] = True
        return mask

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def name(self) -> str:
        base = self.base.name if self.base is not None else self.store.path.name
        return f"{base}[{self.label}: {len(self.rows)} rows]"


def subset_view(view: StoreView, rows: np.ndarray, label: str) -> SubsetView:
    """The rows `rows` (store indices, each in `view`) of `view` as a view of their own."""
    chosen = np.unique(np.asarray(rows, dtype=np.int64))  # sorted, once each
    if len(chosen) and not view.keep(int(chosen[0]), int(chosen[-1]) + 1)[chosen - chosen[0]].all():
        raise ValueError(f"rows outside {view.name} were asked for")
    return SubsetView(view.store, base=view, rows=chosen, label=label)
