"""Extraction: a frozen backbone over a dataset, CLS / mean / patch features of chosen layers into a store."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from probekit import __version__
from probekit.backbones import build_backbone, resolve_layers
from probekit.backbones.base import Backbone
from probekit.data import ImageDataset, open_dataset
from probekit.device import resolve_device
from probekit.errors import DatasetError, DiskFullError, ProbekitError, StoreError
from probekit.features.preprocess import Collate, normalise
from probekit.features.skips import Guarded, check_on_error, skip_summary, unreadable_entries
from probekit.features.space import METADATA_MARGIN, free_bytes, human_bytes
from probekit.features.store import FeatureStore, StoreLayout, StoreWriter, features_fingerprint
from probekit.features.tta import FlippedView, check_scales, scaled_size, tta_path, tta_views
from probekit.files import exclusive_lock, partial_path
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
    on_error: str = "raise"  # an unreadable image: 'raise' (naming it) or 'skip' (left out, listed in the store)


def default_workers(workers: int | None) -> int:
    """Worker processes for loading: as asked, or one per core left over by the main process (1..8)."""
    if workers is not None:
        return workers
    return min(8, max(1, (os.cpu_count() or 2) - 1))


def load_config_file(path: str | Path) -> dict[str, Any]:
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
    check_space: bool = True,
) -> Path:
    """Write (or resume, or skip if complete) the feature store `out`; returns its path.

    The store is written as `out.partial` and renamed to `out` only when complete, so `out` is always
    either absent or a complete store: `overwrite` replaces a good store only once its successor is
    whole, and everything (settings, backbone, dataset) is validated before any file is touched. A lock
    beside `out` refuses a second process writing the same store. `check_space=False` skips the
    up-front free-space check (the per-batch check that keeps the store resumable stays).
    `backbone` and `dataset` may be passed as objects (API use); otherwise they are built from `config`.
    """
    out = Path(out)
    check_config(config)
    _check_out_path(out)
    with exclusive_lock(out, "--out"):
        backbone = backbone or build_backbone(
            config.backbone, config.weights, config.random_init, config.seed, impl=config.impl
        )
        _check_image_size(config.image_size, backbone.patch_size)
        dataset = dataset or open_dataset(
            config.dataset, config.split, config.root, config.image_size, config.limit, config.subset_seed
        )
        if len(dataset) == 0:
            raise DatasetError(f"{config.dataset} split {config.split!r} has no samples: nothing to extract")
        check_on_error(config.on_error, dataset)
        layers = resolve_layers(config.layers, backbone.depth)
        device = resolve_device(config.device)
        use_amp = config.amp and device.type == "cuda"

        grid = backbone.grid_size(config.image_size)
        attrs = {
            **backbone.describe(),
            **dataset.describe(),
            "dataset_fingerprint": dataset.fingerprint(),
            "num_samples": len(dataset),
            "image_size": list(config.image_size),
            "grid": list(grid),
            "layers": layers,
            "norm": config.norm,
            "dtype": config.dtype,
            "batch_size": config.batch_size,
            "amp": use_amp,
            "device": device.type,
            "extract_config": asdict(config),
            "probekit_version": __version__,
            "versions": versions(),
            "git_sha": git_sha(),
            "created": utc_now(),
        }
        # Resuming must reproduce an uninterrupted run, so everything that changes the numbers must match.
        # The impl is not in the fingerprint (its features agree within float32 rounding) but is in the resume key.
        resume_key = short_hash(
            features_fingerprint(attrs),
            attrs["dataset_fingerprint"],
            len(dataset),
            config.batch_size,
            use_amp,
            device.type,
            *_impl_key(attrs),
            *_on_error_key(config),
            *_originals_key(dataset),
        )
        partial = partial_path(out)
        if not _prepare_paths(out, partial, resume_key, overwrite):
            log.info("%s is complete already with these settings; pass --overwrite to extract again", out)
            return out
        layout = StoreLayout(
            len(dataset),
            layers,
            grid,
            backbone.embed_dim,
            config.dtype,
            dataset.targets,
            pairs=getattr(dataset, "pair_table", None),
            resizable=config.on_error == "skip",
            originals=original_names(dataset),
        )
        if check_space:
            stored = _stored_attrs(partial)
            done = int(stored.get("num_done", 0)) + len(stored.get("skipped") or [])
            per_sample = layout.sample_bytes
            if free_bytes(out) < (len(dataset) - done) * per_sample + METADATA_MARGIN:
                raise DiskFullError(
                    f"not enough disk space for {out}: the store needs "
                    f"~{human_bytes((len(dataset) - done) * per_sample)} more, "
                    f"{human_bytes(free_bytes(out))} free at {out.absolute().parent}; free some space, choose "
                    f"another --out, or pass --no-space-check to start anyway"
                )

        backbone.to(device)
        with StoreWriter(partial, layout, attrs, resume_key) as writer:
            start = writer.cursor
            if start:
                log.info("resuming %s at sample %d/%d", partial, start, len(dataset))
            began = time.perf_counter()
            loader = DataLoader(
                Subset(Guarded(dataset), range(start, len(dataset))),
                batch_size=config.batch_size,
                shuffle=False,
                num_workers=default_workers(config.workers),
                collate_fn=Collate(
                    config.image_size,
                    backbone.preprocessing.interpolation,
                    list(dataset.targets),
                    with_originals=layout.originals is not None,
                ),
                pin_memory=device.type == "cuda",
                persistent_workers=False,
            )
            bar = progress_bar(len(dataset), f"extract {backbone.name}", "img", enabled=progress, initial=start)
            position = writer.num_done
            for batch in loader:
                skipped = unreadable_entries(batch["unreadable"], config.on_error)
                features = (
                    _forward(
                        backbone,
                        batch["images"].to(device, non_blocking=True),
                        layers,
                        config.norm,
                        use_amp,
                        config.dtype,
                    )
                    if batch["ids"]
                    else {}
                )
                writer.write(
                    position, batch["ids"], features, batch["targets"], skipped=skipped, originals=batch["originals"]
                )
                position += len(batch["ids"])
                bar.update(len(batch["ids"]) + len(skipped))
            bar.close()
            elapsed = time.perf_counter() - began
            writer.finish(
                {
                    "finished": utc_now(),
                    "extract_seconds": round(elapsed, 3),
                    "images_per_second": round((len(dataset) - start) / max(elapsed, 1e-9), 3),
                }
            )
            skipped = writer.skipped
        os.replace(partial, out)  # the complete store takes the name (and replaces an old one) in one step
        if skipped:
            log.warning(skip_summary(skipped, len(dataset), out))
    return out


def extract_views(
    config: ExtractConfig,
    out: str | Path,
    scales: Sequence[float],
    flip: bool,
    overwrite: bool = False,
    progress: bool = True,
    check_space: bool = True,
) -> list[Path]:
    """The base store `out` and one view store per other (scale, flip) beside it (probekit/features/tta.py).

    Each view is an ordinary extraction (resumable, skipped when complete) at the scaled image size, of the
    dataset opened at that size, mirrored for the flipped views.
    """
    check_scales(scales)
    check_config(config)
    out = Path(out)
    backbone = build_backbone(config.backbone, config.weights, config.random_init, config.seed, impl=config.impl)
    paths = [extract(config, out, overwrite, progress, backbone=backbone, check_space=check_space)]
    for scale, flip_view in tta_views(scales, flip)[1:]:
        size = scaled_size(config.image_size, scale, backbone.patch_size)
        dataset = open_dataset(config.dataset, config.split, config.root, size, config.limit, config.subset_seed)
        view = FlippedView(dataset, size, flip_view, scale, out.name)
        path = tta_path(out, scale, flip_view)
        log.info("view scale %g%s: %dx%d -> %s", scale, " flipped" if flip_view else "", *size, path)
        cfg = replace(config, image_size=size)
        paths.append(extract(cfg, path, overwrite, progress, backbone=backbone, dataset=view, check_space=check_space))
    return paths


def original_names(dataset: ImageDataset) -> tuple[str, ...] | None:
    """The dense targets a dataset keeps at original resolution (its optional `originals`); None: it keeps none."""
    names = getattr(dataset, "originals", None)
    return None if names is None else tuple(names)


def check_config(config: ExtractConfig) -> None:
    """Settings that can be checked without building anything; raise naming the option."""
    if config.dtype not in ("float16", "float32"):
        raise ProbekitError(f"--dtype must be float16 or float32, not {config.dtype!r}")
    if config.batch_size < 1:
        raise ProbekitError(f"--batch-size must be at least 1, not {config.batch_size}")
    if config.limit is not None and config.limit < 1:
        raise ProbekitError(f"--limit must be at least 1, not {config.limit}")
    if config.workers is not None and config.workers < 0:
        raise ProbekitError(f"--workers must be 0 or more, not {config.workers}")


def _check_out_path(out: Path) -> None:
    if out.is_dir():
        raise ProbekitError(f"--out {out} is a directory: name the store file, e.g. {out / 'features.h5'}")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ProbekitError(f"--out {out}: {parent} is a file, not a directory")


def _prepare_paths(out: Path, partial: Path, resume_key: str, overwrite: bool) -> bool:
    """Decide what happens to an existing `out` / `out.partial`; False when `out` is complete already.

    Never deletes a complete store: with `overwrite` it is replaced only when the new one is complete.
    """
    existing = _stored_attrs(out)
    same = existing.get("resume_key") == resume_key
    if existing.get("complete") and same and not overwrite:
        return False
    if out.exists() and not overwrite:
        if same and not existing.get("complete"):  # interrupted in place by an older probekit: resume it
            os.replace(out, partial)
        else:
            raise StoreError(
                f"{out} exists with other settings (or data, or is not a readable store); "
                f"pass --overwrite to replace it or choose another --out"
            )
    stored = _stored_attrs(partial)
    if partial.exists() and stored.get("resume_key") != resume_key:
        if not overwrite:
            raise StoreError(
                f"{partial} is an interrupted extraction with other settings: re-run that command to "
                f"finish it, or pass --overwrite to start this one instead"
            )
        partial.unlink()  # an unfinished store of other settings, replaced as asked
    return True


def _forward(
    backbone: Backbone, images: torch.Tensor, layers: list[int], norm: bool, amp: bool, dtype: str
) -> dict[int, dict[str, np.ndarray]]:
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


def _impl_key(attrs: dict[str, Any]) -> tuple[str, ...]:
    """What a non-default impl adds to the resume key; nothing for timm, so existing stores still resume."""
    impl = attrs.get("impl", "timm")
    return () if impl == "timm" else (impl,)


def _on_error_key(config: ExtractConfig) -> tuple[str, ...]:
    """What --on-error skip adds to the resume key (a store with skips is not a complete raise-mode store)."""
    return () if config.on_error == "raise" else (config.on_error,)


def _originals_key(dataset: ImageDataset) -> tuple[str, ...]:
    """What keeping originals adds to the resume key (the layout differs); nothing for datasets without them."""
    names = original_names(dataset)
    return () if names is None else ("originals", *names)


def _check_image_size(image_size: tuple[int, int], patch_size: int) -> None:
    if any(side % patch_size or side <= 0 for side in image_size):
        H, W = image_size
        fix = "x".join(str(max(patch_size, round(side / patch_size) * patch_size)) for side in (H, W))
        raise ProbekitError(f"image size {H}x{W} is not a multiple of the patch size {patch_size}: try {fix}")


def _stored_attrs(path: Path) -> dict[str, Any]:
    """Attributes of an existing store, or {} when there is none (or it can't be read)."""
    if not path.exists():
        return {}
    try:
        with FeatureStore(path, allow_incomplete=True) as store:
            return store.attrs
    except StoreError:
        return {}
