"""Datasets by name: `open_dataset("synthetic", split="train", image_size=(224, 224))`."""

from __future__ import annotations

from collections.abc import Callable

from probekit.data.base import ImageDataset, SubsetDataset
from probekit.errors import DatasetError
from probekit.registry import Registry

# name -> factory(split, root, image_size) -> ImageDataset
DatasetFactory = Callable[[str, "str | None", "tuple[int, int]"], ImageDataset]
DATASETS: Registry[DatasetFactory] = Registry("dataset", DatasetError)


def open_dataset(
    name: str,
    split: str = "train",
    root: str | None = None,
    image_size: tuple[int, int] = (224, 224),
    limit: int | None = None,
    subset_seed: int | None = None,
) -> ImageDataset:
    """The dataset `name` for `split`, optionally cut to `limit` samples (first ones, or seeded random)."""
    _register_builtin()
    dataset = DATASETS.get(name)(split, root, image_size)
    if len(dataset) == 0:
        raise DatasetError(f"dataset {name!r} split {split!r} has no samples under {root}")
    if limit is not None:
        dataset = SubsetDataset(dataset, limit, subset_seed)
    return dataset


def _register_builtin() -> None:
    """Adapters register themselves on import; importing here keeps `probekit.data` light."""
    from probekit.data import synthetic_adapter  # noqa: F401
