"""Extraction: a frozen backbone over a dataset, CLS / mean / patch features of chosen layers into a store."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from probekit import __version__
from probekit.backbones import build_backbone, resolve_layers
from probekit.backbones.base import Backbone
from probekit.data import ImageDataset, open_dataset
from probekit.device import resolve_device
from probekit.errors import ProbekitError, StoreError
from probekit.features.preprocess import Collate, normalise
from probekit.features.store import FeatureStore, StoreLayout, StoreWriter, features_fingerprint
from probekit.progress import progress_bar
from probekit.provenance import git_sha, short_hash, utc_now, versions

log = logging.getLogger("probekit.extract")
_FP16_MAX = 65504.0


@dataclass(frozen=True)
class ExtractConfig:
    """Everything that decides a feature store (the CLI's `extract` options)."""

    backbone: str
    dataset: str = "synthetic"
    split: str = "train"
    root: str | None = None
    weights: str | None = None
    random_init: bool = False
    seed: int = 0
    image_size: tuple[int, int] = (224, 224)
    layers: str = "-1"
    norm: bool = True
    dtype: str = "float16"
    batch_size: int = 32
    workers: int | None = None  # DataLoader processes; None = one per spare core (at most 8)
    limit: int | None = None
    subset_seed: int | None = None
    device: str = "auto"
    amp: bool = True
    impl: str = "timm"  # who runs the weights: 'timm' (the building library) or 'reference' (probekit.models.vit)


def default_workers(workers: int | None) -> int:
    """Worker processes for loading: as asked, or one per core left over by the main process (1..8)."""
    if workers is not None:
        return workers
    return min(8, max(1, (os.cpu_count() or 2) - 1))


def load_config_file(path: str | Path) -> dict:
    """Settings from a YAML preset (configs/extract/*.yaml): a mapping of ExtractConfig fields."""
    from probekit.yamlfile import read_yaml

    path = Path(path)
    values = read_yaml(path, "config file") or {}
    known = set(ExtractConfig.__dataclass_fields__)
    if not isinstance(values, dict) or set(values) - known:
        unknown = sorted(set(values) - known) if isinstance(values, dict) else values
        raise ProbekitError(f"{path}: unknown extract settings {unknown}; known: {', '.join(sorted(known))}")
    if isinstance(values.get("image_size"), int):
        values["image_size"] = (values["image_size"], values["image_size"])
    if "image_size" in values:
        values["image_size"] = tuple(values["image_size"])
    return values



def extract(
    config: ExtractConfig,
    out: str | Path,
    overwrite: bool = False,
    progress: bool = True,
    backbone: Backbone | None = None,
    dataset: ImageDataset | None = None,
) -> Path:
    """Write (or resume, or skip if complete) the feature store `out`; returns its path.

    `backbone` and `dataset` may be passed as objects (API use); otherwise they are built from `config`.
    """
    out = Path(out)
    if config.dtype not in ("float16", "float32"):
        raise ProbekitError(f"--dtype must be float16 or float32, not {config.dtype!r}")
    if out.exists() and overwrite:
        out.unlink()

    backbone = backbone or build_backbone(config.backbone, config.weights, config.random_init, config.seed,
                                          impl=config.impl)
    _check_image_size(config.image_size, backbone.patch_size)
    dataset = dataset or open_dataset(config.dataset, config.split, config.root, config.image_size,
                                      config.limit, config.subset_seed)
    layers = resolve_layers(config.layers, backbone.depth)
    device = resolve_device(config.device)
    use_amp = config.amp and device.type == "cuda"
    backbone.to(device)

    grid = backbone.grid_size(config.image_size)
    attrs = {
        **backbone.describe(), **dataset.describe(),
        "dataset_fingerprint": dataset.fingerprint(), "num_samples": len(dataset),
        "image_size": list(config.image_size), "grid": list(grid), "layers": layers, "norm": config.norm,
        "dtype": config.dtype, "batch_size": config.batch_size, "amp": use_amp, "device": device.type,
        "extract_config": asdict(config), "probekit_version": __version__, "versions": versions(),
        "git_sha": git_sha(), "created": utc_now(),
    }
    # Resuming must reproduce an uninterrupted run, so everything that changes the numbers must match.
    # The impl is not in the fingerprint (its features agree within float32 rounding) but is in the resume key.
    resume_key = short_hash(features_fingerprint(attrs), attrs["dataset_fingerprint"], len(dataset),
                            config.batch_size, use_amp, device.type, *_impl_key(attrs))
    existing = _stored_attrs(out)
    if existing.get("resume_key") == resume_key and existing.get("complete"):
        log.info("%s is complete already with these settings; pass --overwrite to extract again", out)
        return out
    layout = StoreLayout(len(dataset), layers, grid, backbone.embed_dim, config.dtype, dataset.targets,
                         pairs=getattr(dataset, "pairs", None))

    with StoreWriter(out, layout, attrs, resume_key) as writer:
        start = writer.num_done
        if start:
            log.info("resuming %s at sample %d/%d", out, start, len(dataset))
        began = time.perf_counter()
        loader = DataLoader(
            Subset(dataset, range(start, len(dataset))),
            batch_size=config.batch_size, shuffle=False, num_workers=default_workers(config.workers),
            collate_fn=Collate(config.image_size, backbone.preprocessing.interpolation, list(dataset.targets)),
            pin_memory=device.type == "cuda", persistent_workers=False,
        )
        bar = progress_bar(len(dataset), f"extract {backbone.name}", "img", enabled=progress, initial=start)
        position = start
        for batch in loader:
            features = _forward(backbone, batch["images"].to(device, non_blocking=True), layers,
                                config.norm, use_amp, config.dtype)
            writer.write(position, batch["ids"], features, batch["targets"])
            position += len(batch["ids"])
            bar.update(len(batch["ids"]))
        bar.close()
        elapsed = time.perf_counter() - began
        writer.finish({"finished": utc_now(), "extract_seconds": round(elapsed, 3),
                       "images_per_second": round((len(dataset) - start) / max(elapsed, 1e-9), 3)})
    return out


def _forward(backbone: Backbone, images: torch.Tensor, layers: list[int], norm: bool, amp: bool,
             dtype: str) -> dict[int, dict[str, np.ndarray]]:
    """Features of one batch as numpy arrays in the storage dtype."""
    x = normalise(images, backbone.preprocessing)  # (B, 3, H, W)
    with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=amp):
        outputs = backbone.forward_layers(x, layers, norm)
    arrays = {}
    for layer, out in outputs.items():
        fields = {"cls": out.cls, "mean": out.mean, "patch": out.patch}
        if dtype == "float16" and max(float(t.abs().max()) for t in fields.values()) > _FP16_MAX:
            raise StoreError(f"layer {layer} has values beyond the float16 range: extract with --dtype float32")
        arrays[layer] = {name: t.float().cpu().numpy().astype(dtype, copy=False) for name, t in fields.items()}
    return arrays


def _impl_key(attrs: dict) -> tuple:
    """What a non-default impl adds to the resume key; nothing for timm, so existing stores still resume."""
    impl = attrs.get("impl", "timm")
    return () if impl == "timm" else (impl,)


def _check_image_size(image_size: tuple[int, int], patch_size: int) -> None:
    if any(side % patch_size or side <= 0 for side in image_size):
        H, W = image_size
        fix = f"{max(patch_size, round(H / patch_size) * patch_size)}x{max(patch_size, round(W / patch_size) * patch_size)}"
        raise ProbekitError(f"image size {H}x{W} is not a multiple of the patch size {patch_size}: try {fix}")


def _stored_attrs(path: Path) -> dict:
    """Attributes of an existing store, or {} when there is none (or it can't be read)."""
    if not path.exists():
        return {}
    try:
        with FeatureStore(path, allow_incomplete=True) as store:
            return store.attrs
    except StoreError:
        return {}
