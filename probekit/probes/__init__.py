"""Linear heads, their losses, batch streaming from stores and the one training loop."""

from probekit.probes.heads import DepthBinsHead, DepthRegressionHead, LinearClassifier, SegmentationHead
from probekit.probes.trainer import HeadGrid, HeadSpec, TrainConfig, fit

__all__ = [
    "DepthBinsHead",
    "DepthRegressionHead",
    "HeadGrid",
    "HeadSpec",
    "LinearClassifier",
    "SegmentationHead",
    "TrainConfig",
    "fit",
]
