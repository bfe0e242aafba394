"""Dataset adapters (yielding images and task targets) and the synthetic scenes, the embedded default."""

from probekit.data.base import ImageDataset, SubsetDataset, TargetSpec
from probekit.data.registry import DATASETS, open_dataset

__all__ = ["DATASETS", "ImageDataset", "SubsetDataset", "TargetSpec", "open_dataset"]
