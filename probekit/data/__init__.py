"""Dataset adapters (yielding images and task targets) and the synthetic scenes, the embedded default."""

from probekit.data.base import ImageDataset, SubsetDataset, TargetSpec
from probekit.data.registry import DATASETS, DatasetEntry, dataset_entry, open_dataset, register_dataset

__all__ = [
    "DATASETS",
    "DatasetEntry",
    "ImageDataset",
    "SubsetDataset",
    "TargetSpec",
    "dataset_entry",
    "open_dataset",
    "register_dataset",
]
