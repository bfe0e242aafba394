"""Streaming metrics (state + update + compute, torchmetrics-style) and their functional forms."""

from probekit.metrics.classification import (
    ClassificationMetrics,
    classification_metrics,
)
from probekit.metrics.depth import (
    DEPTH_METRIC_KEYS,
    DepthMetrics,
    align_depth,
    crop_mask,
    depth_metrics,
    per_image_depth_metrics,
    valid_depth_mask,
)
from probekit.metrics.segmentation import (
    SegmentationMetrics,
    metrics_from_confusion,
    reduce_zero_label,
    segmentation_confusion,
    segmentation_metrics,
)

__all__ = [
    "DEPTH_METRIC_KEYS",
    "ClassificationMetrics",
    "DepthMetrics",
    "SegmentationMetrics",
    "align_depth",
    "classification_metrics",
    "crop_mask",
    "depth_metrics",
    "metrics_from_confusion",
    "per_image_depth_metrics",
    "reduce_zero_label",
    "segmentation_confusion",
    "segmentation_metrics",
    "valid_depth_mask",
]
