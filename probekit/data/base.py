"""What every dataset adapter provides: samples as dicts of numpy arrays, and a description of its targets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, cast, runtime_checkable

import numpy as np

from probekit.data.pairs import PairTable
from probekit.provenance import short_hash


@dataclass(frozen=True)
class TargetSpec:
    """One per-sample target stored next to the features: its shape, dtype and attributes.

    `attrs` travel into the store (class names, ignore index, units) so a probe can read what
    the numbers mean without the dataset at hand.
    """

    shape: tuple[int, ...]
    dtype: str
    attrs: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class ImageDataset(Protocol):
    """A map-style dataset of images and targets, deterministic and in a fixed order.

    `dataset[i]` returns {"id": str, "image": uint8 (H, W, 3) RGB, <target name>: np.ndarray | int}.
    Correspondence datasets are `CorrespondenceDataset`s as well. Optional: `originals`, a tuple of dense
    target names (mask, depth) the adapter also gives at the original resolution; each sample then has
    "original": {"shape": (H0, W0), "pixel_map": PixelMap.as_array() original -> stored image pixels,
    <name>: (H0, W0) array}, stored compressed so metrics can be computed where the papers compute them
    (probekit/features/originals.py). Adapters keep their own bookkeeping
    (file lists and the like) under names that are not protocol attributes: `pair_table`, `limit_unit`.
    """

    @property
    def name(self) -> str: ...

    @property
    def split(self) -> str: ...

    @property
    def targets(self) -> Mapping[str, TargetSpec]: ...

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> dict[str, Any]: ...

    def fingerprint(self) -> str:
        """A short hash of what the samples are (root contents or generator settings)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Provenance recorded in the feature store (name, split, root, settings)."""
        ...


@runtime_checkable
class CorrespondenceDataset(ImageDataset, Protocol):
    """Images with a pair table: `pair_table`, a `probekit.data.pairs.PairTable` indexing these images, and
    a `pixel_map` target (probekit.data.geometry.PixelMap) per image; the extractor stores the table.

    Optional: `limit_unit = "pairs"` (--limit counts pairs, see SubsetDataset) and
    `pair_table_among(images)`, the pairs among `images` built without the whole table.
    """

    pair_table: PairTable


class SubsetDataset:
    """The first `limit` samples, or a seeded random `limit` of them kept in dataset order (`--limit`).

    A dataset with `limit_unit = "pairs"` (SPair-71k, PF-PASCAL: an image serves many pairs) is cut
    to `limit` pairs instead, with the images those pairs use: the first `limit` images of SPair-71k
    would hold almost no complete pair.
    """

    def __init__(self, dataset: ImageDataset, limit: int, subset_seed: int | None = None):
        if limit <= 0:
            raise ValueError(f"--limit must be positive, got {limit}")
        self.limit_unit = getattr(dataset, "limit_unit", "images")
        table = cast(CorrespondenceDataset, dataset).pair_table if self.limit_unit == "pairs" else None
        chosen = _choose(len(dataset) if table is None else len(table), limit, subset_seed)
        self._pair_rows = None if table is None else chosen
        self.indices = chosen if table is None else np.unique(np.concatenate([table.src[chosen], table.trg[chosen]]))
        self.dataset = dataset
        self.limit = limit
        self.subset_seed = subset_seed
        self.name, self.split, self.targets = dataset.name, dataset.split, dataset.targets
        self.originals: tuple[str, ...] | None = getattr(dataset, "originals", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.dataset[int(self.indices[index])]

    @property
    def pair_table(self) -> PairTable | None:
        """A correspondence dataset's pairs among the kept images (None for other datasets)."""
        among: Callable[[np.ndarray], PairTable] | None = getattr(self.dataset, "pair_table_among", None)
        if among is not None and self._pair_rows is None:  # the dataset can build just these pairs
            return among(self.indices)
        table: PairTable | None = getattr(self.dataset, "pair_table", None)
        if table is None:
            return None
        if self._pair_rows is not None:
            table = _take_pairs(table, self._pair_rows)
        return table.restrict(self.indices)

    def fingerprint(self) -> str:
        return short_hash(self.dataset.fingerprint(), self.limit, self.subset_seed)

    def describe(self) -> dict[str, Any]:
        unit = {} if self.limit_unit == "images" else {"limit_unit": self.limit_unit}
        return dict(self.dataset.describe(), limit=self.limit, subset_seed=self.subset_seed, **unit)


def _choose(total: int, limit: int, subset_seed: int | None) -> np.ndarray:
    """Sorted indices of the first `limit` of `total` items, or a seeded random `limit` of them."""
    if subset_seed is None:
        return np.arange(min(limit, total))
    rng = np.random.default_rng(subset_seed)
    return np.sort(rng.choice(total, size=min(limit, total), replace=False))


def _take_pairs(table: PairTable, rows: np.ndarray) -> PairTable:
    """The PairTable's rows `rows`, image indices unchanged (`restrict` then re-indexes them)."""
    return replace(table, **table.take(rows))
