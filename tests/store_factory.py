"""Feature stores made from arrays, for probe tests whose answers are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from probekit.data.base import TargetSpec
from probekit.features.store import StoreLayout, StoreWriter


def write_store(
    path: Path,
    patch: np.ndarray,
    targets: dict[str, tuple[np.ndarray, dict]],
    cls: np.ndarray | None = None,
    backbone: str = "fake",
    dtype: str = "float32",
) -> Path:
    """A complete store with one layer (11) holding `patch` (N, h, w, D); cls defaults to the patch mean."""
    mean = patch.mean(axis=(1, 2))
    cls = mean if cls is None else cls
    features = {11: {"cls": cls.astype(dtype), "mean": mean.astype(dtype), "patch": patch.astype(dtype)}}
    return write_layers_store(path, features, targets, backbone=backbone, dtype=dtype)


def write_layers_store(
    path: Path,
    features: dict[int, dict[str, np.ndarray]],
    targets: dict[str, tuple[np.ndarray, dict]],
    patch_size: int = 8,
    backbone: str = "fake",
    dtype: str = "float32",
) -> Path:
    """A complete store of a 12-block backbone holding `features` {layer: {cls, mean, patch (N, h, w, D)}} and
    `targets` {name: (values, attrs)}."""
    layers = sorted(features)
    N, h, w, D = features[layers[0]]["patch"].shape
    specs = {name: TargetSpec(values.shape[1:], str(values.dtype), attrs) for name, (values, attrs) in targets.items()}
    attrs = {
        "backbone": backbone,
        "backbone_model": backbone,
        "weights_sha256": "none",
        "weights_source": "none",
        "global_source": "cls",
        "patch_size": patch_size,
        "embed_dim": D,
        "depth": 12,
        "num_registers": 0,
        "image_size": [h * patch_size, w * patch_size],
        "grid": [h, w],
        "layers": layers,
        "norm": True,
        "dtype": dtype,
        "pixel_mean": [0.5] * 3,
        "pixel_std": [0.5] * 3,
        "interpolation": "bicubic",
        "pos_embed_resample": "none",
        "dataset": "fake",
        "split": path.stem,
        "root": "",
        "dataset_fingerprint": path.stem,
        "num_samples": N,
    }
    layout = StoreLayout(N, layers, (h, w), D, dtype, specs)
    with StoreWriter(path, layout, attrs, resume_key=path.stem) as writer:
        writer.write(0, [f"s{i}" for i in range(N)], features, {name: values for name, (values, _) in targets.items()})
        writer.finish({})
    return path


def gaussian_blobs(n: int, seed: int, d: int = 16, c: int = 4, spread: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) float32 features around c class centres (the same centres for every seed) and (n,) int64 labels."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(scale=spread, size=(c, d))
    y = rng.integers(0, c, size=n)
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y.astype(np.int64)


def global_feature_store(path: Path, x: np.ndarray, y: np.ndarray, num_classes: int = 4) -> Path:
    """A classification store whose CLS features are `x` (a 1x1 patch grid of zeros beside them)."""
    patch = np.zeros((len(x), 1, 1, x.shape[1]), np.float32)
    return write_store(path, patch, {"label": (y, {"num_classes": num_classes})}, cls=x)
