"""Datasets by name: `open_dataset("synthetic", split="train", image_size=(224, 224))`.

Each adapter registers a `DatasetEntry`: its factory plus what `probekit datasets` shows (tasks,
splits, the README that explains the layout) and a layout check that names what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from probekit.data.base import ImageDataset, SubsetDataset
from probekit.errors import DatasetError
from probekit.registry import Registry

# factory(split, root, image_size) -> ImageDataset
DatasetFactory = Callable[[str, "str | None", "tuple[int, int]"], ImageDataset]
# check(root) -> problems with the tree under root, [] when complete
LayoutCheck = Callable[[Path], "list[str]"]


@dataclass(frozen=True)
class DatasetEntry:
    """A registered adapter: how to open it and how to describe and check it."""

    factory: DatasetFactory
    description: str
    tasks: Sequence[str]
    splits: Sequence[str]
    readme: str = ""  # datasets/<name>/README.md: download and layout
    needs_root: bool = True
    check_layout: LayoutCheck | None = None
    aliases: Sequence[str] = field(default_factory=tuple)


DATASETS: Registry[DatasetEntry] = Registry("dataset", DatasetError)


def register_dataset(name: str, entry: DatasetEntry) -> DatasetEntry:
    return DATASETS.register(name, entry)


def dataset_entry(name: str) -> DatasetEntry:
    _register_builtin()
    return DATASETS.get(name)


def dataset_entries() -> list[tuple[str, DatasetEntry]]:
    """Every registered adapter with its entry, built-in ones included (`probekit datasets`)."""
    _register_builtin()
    return DATASETS.items()


def open_dataset(
    name: str,
    split: str = "train",
    root: str | None = None,
    image_size: tuple[int, int] = (224, 224),
    limit: int | None = None,
    subset_seed: int | None = None,
) -> ImageDataset:
    """The dataset `name` for `split`, optionally cut to `limit` samples (first ones, or seeded random)."""
    entry = dataset_entry(name)
    if entry.needs_root and not root:
        hint = f" (layout: {entry.readme})" if entry.readme else ""
        raise DatasetError(f"dataset {name!r} is read from disk: pass --root DIR{hint}")
    if entry.splits and split not in entry.splits:
        raise DatasetError(f"dataset {name!r} has splits {', '.join(entry.splits)}, not {split!r}")
    dataset = entry.factory(split, root, image_size)
    if len(dataset) == 0:
        raise DatasetError(f"dataset {name!r} split {split!r} has no samples under {root}")
    if limit is not None:
        dataset = SubsetDataset(dataset, limit, subset_seed)
    return dataset


def _register_builtin() -> None:
    """Adapters register themselves on import; importing here keeps `probekit.data` light."""
    import importlib

    for module in _BUILTIN:
        importlib.import_module(f"probekit.data.{module}")


# Adapter modules under probekit/data/ that register datasets when imported.
_BUILTIN: list[str] = [
    "synthetic_adapter",
    "synthetic_pairs",
    "ade20k",
    "voc",
    "cityscapes",
    "spair",
    "pfpascal",
    "posed_scenes",
    "imagefolder",
    "csvlist",
    "imagenet",
    "nyuv2",
    "nyuv2_sync",
    "kitti",
]
