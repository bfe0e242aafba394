"""Extraction: a frozen backbone over a dataset, CLS / mean / patch features of chosen layers into a store.

The forward pass runs in the main thread and hands each batch to a background writer thread
(probekit/features/background.py); `plan` (`extract --dry-run`) times a few batches and sizes the store
without writing anything.
"""

from __future__ import annotations

import itertools
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
from probekit.features.background import BackgroundWriter, HostBatch
from probekit.features.preprocess import Collate, normalise
from probekit.features.skips import Guarded, check_on_error, skip_summary, unreadable_entries
from probekit.features.space import METADATA_MARGIN, free_bytes, human_bytes
from probekit.features.store import (
    FIELDS,
    FeatureStore,
    StoreLayout,
    StoreSize,
    StoreWriter,
    features_fingerprint,
    measure_stored_bytes,
)
from probekit.features.tta import FlippedView, check_scales, scaled_size, tta_path, tta_views
from probekit.files import exclusive_lock, partial_path
from probekit.progress import progress_bar
from probekit.provenance import git_sha, short_hash, utc_now, versions

log = logging.getLogger("probekit.extract")
DRY_RUN_BATCHES = 3  # --dry-run: one warm-up batch, then two timed ones (fewer when the split is smaller)


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
    outputs: tuple[str, ...] = FIELDS  # the feature outputs stored per layer: a subset of cls, mean, patch


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
    if isinstance(values.get("outputs"), str):
        values["outputs"] = tuple(part.strip() for part in values["outputs"].split(",") if part.strip())
    elif "outputs" in values:
        values["outputs"] = tuple(values["outputs"])
    return values


def ordered_outputs(outputs: Sequence[str]) -> tuple[str, ...]:
    """The chosen outputs in store order (cls, mean, patch), however they were listed."""
    return tuple(field for field in FIELDS if field in outputs)


@dataclass
class Prepared:
    """What an extraction (or its dry run) needs, built and checked before any file is touched."""

    backbone: Backbone
    dataset: ImageDataset
    layers: list[int]
    device: torch.device
    use_amp: bool
    attrs: dict[str, Any]
    resume_key: str
    layout: StoreLayout


def prepare(config: ExtractConfig, backbone: Backbone | None, dataset: ImageDataset | None) -> Prepared:
    """Build the backbone and dataset (unless given), the store's attributes, resume key and layout."""
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
        "outputs": list(ordered_outputs(config.outputs)),
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
        **layer_attrs(backbone, layers, config.image_size),
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
        *_outputs_key(config),
    )
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
        outputs=ordered_outputs(config.outputs),
        layer_shapes=layer_shapes(backbone, layers, config.image_size),
    )
    return Prepared(backbone, dataset, layers, device, use_amp, attrs, resume_key, layout)


def layer_shapes(
    backbone: Backbone, layers: Sequence[int], image_size: tuple[int, int]
) -> dict[int, tuple[int, int, int]] | None:
    """Per layer (h, w, D) for a feature-map backbone, whose stages differ; None for a ViT (every layer alike)."""
    if not backbone.hierarchical:
        return None
    return {k: (*backbone.layer_grid(k, image_size), backbone.layer_dim(k)) for k in layers}


def layer_attrs(backbone: Backbone, layers: Sequence[int], image_size: tuple[int, int]) -> dict[str, Any]:
    """The per-layer store attrs of a feature-map backbone (`layer_grids`, `layer_dims`, `layer_strides`, aligned
    with `layers`); none for a ViT, whose `grid`, `embed_dim` and `patch_size` hold for every layer."""
    shapes = layer_shapes(backbone, layers, image_size)
    if shapes is None:
        return {}
    return {
        "layer_grids": [list(shapes[k][:2]) for k in layers],
        "layer_dims": [shapes[k][2] for k in layers],
        "layer_strides": [backbone.layer_stride(k) for k in layers],
    }


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
        run = prepare(config, backbone, dataset)
        backbone, dataset, layout = run.backbone, run.dataset, run.layout
        partial = partial_path(out)
        if not _prepare_paths(out, partial, run.resume_key, overwrite):
            log.info("%s is complete already with these settings; pass --overwrite to extract again", out)
            return out
        if check_space:
            stored = _stored_attrs(partial)
            done = int(stored.get("num_done", 0)) + len(stored.get("skipped") or [])
            needed = layout.size(len(dataset) - done).total
            if free_bytes(out) < needed + METADATA_MARGIN:
                raise DiskFullError(
                    f"not enough disk space for {out}: the store needs ~{human_bytes(needed)} more, "
                    f"{human_bytes(free_bytes(out))} free at {out.absolute().parent}; free some space, choose "
                    f"another --out, or pass --no-space-check to start anyway"
                )

        backbone.to(run.device)
        with StoreWriter(partial, layout, run.attrs, run.resume_key) as writer:
            start = writer.cursor
            if start:
                log.info("resuming %s at sample %d/%d", partial, start, len(dataset))
            began = time.perf_counter()
            bar = progress_bar(len(dataset), f"extract {backbone.name}", "img", enabled=progress, initial=start)
            position, forwarded, forward_seconds = writer.num_done, 0, 0.0
            with BackgroundWriter(writer) as background:
                for batch in batch_loader(config, run, start):
                    skipped = unreadable_entries(batch["unreadable"], config.on_error)
                    tick = time.perf_counter()
                    host = _forward_batch(run, config, batch, position, skipped)
                    forward_seconds += time.perf_counter() - tick
                    background.submit(host)  # waits only while the queue is full
                    position += len(batch["ids"])
                    forwarded += len(batch["ids"]) + len(skipped)
                    bar.update(len(batch["ids"]) + len(skipped))
                    bar.set_postfix(
                        forward=f"{forwarded / max(forward_seconds, 1e-9):.1f} img/s",
                        write=f"{background.stats.rate():.1f} img/s",
                    )
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
        log.info(_compression_line(out))
        if skipped:
            log.warning(skip_summary(skipped, len(dataset), out))
    return out


@dataclass(frozen=True)
class StorePlan:
    """What `extract --dry-run` reports: the store's size, the free space, and the time it would take."""

    out: Path
    images: int
    size: StoreSize
    free: int
    measured_samples: int  # samples whose targets and originals were compressed to measure their size
    timed_batches: int
    timed_images: int
    images_per_second: float
    complete: bool  # `out` is a complete store of these settings already (a real run does nothing)

    @property
    def seconds(self) -> float:
        return self.images / self.images_per_second if self.images_per_second > 0 else float("nan")

    def lines(self) -> list[str]:
        size = self.size
        per = max(size.samples, 1)
        fits = self.free >= size.total + METADATA_MARGIN
        lines = [
            f"dry run for {self.out}: nothing written",
            f"  images        {self.images}",
            f"  store size    {human_bytes(size.total)}: features {human_bytes(size.features)}, targets "
            f"{human_bytes(size.targets)}, originals {human_bytes(size.originals)}, ids and metadata "
            f"{human_bytes(size.other)}",
            f"  per image     features {human_bytes(size.features / per)}, targets {human_bytes(size.targets / per)}"
            f", originals {human_bytes(size.originals / per)} (compressed sizes measured on "
            f"{self.measured_samples} samples)",
            f"  free space    {human_bytes(self.free)} at {self.out.absolute().parent}"
            + ("" if fits else ": NOT ENOUGH, a real run refuses to start (--no-space-check starts anyway)"),
            f"  time          ~{_duration(self.seconds)} at {self.images_per_second:.1f} img/s (loading + forward, "
            f"timed on {self.timed_batches} batches, {self.timed_images} images, after 1 warm-up batch)",
        ]
        if self.complete:
            lines.append(f"  {self.out} is complete already with these settings: a real run does nothing")
        return lines


def plan(
    config: ExtractConfig,
    out: str | Path,
    backbone: Backbone | None = None,
    dataset: ImageDataset | None = None,
    batches: int = DRY_RUN_BATCHES,
) -> StorePlan:
    """`extract --dry-run`: size the store and time a few batches (one warm-up, then the rest timed), writing
    nothing at all (no store, no `.partial`, no lock). The size is `StoreLayout.size`, the estimate the real
    run's free-space check uses, with the targets' and originals' compressed sizes measured on these batches."""
    out = Path(out)
    check_config(config)
    _check_out_path(out)
    run = prepare(config, backbone, dataset)
    run.backbone.to(run.device)
    samples: list[tuple[int, dict[str, np.ndarray], list[dict[str, Any]]]] = []
    times: list[tuple[int, float]] = []  # (images, seconds) per batch
    tick = time.perf_counter()
    for batch in itertools.islice(batch_loader(config, run, 0), batches):
        host = _forward_batch(run, config, batch, 0, [])
        if host.copied is not None:
            host.copied.synchronize()
        now = time.perf_counter()
        times.append((len(batch["ids"]), now - tick))
        tick = now
        samples.append((len(batch["ids"]), batch["targets"], batch["originals"]))
    timed = times[1:] or times  # the first batch warms up (workers starting); with one batch it is all there is
    timed_images, timed_seconds = sum(n for n, _ in timed), sum(t for _, t in timed)
    measured = measure_stored_bytes(run.layout, samples)
    existing = _stored_attrs(out)
    return StorePlan(
        out=out,
        images=len(run.dataset),
        size=run.layout.size(len(run.dataset), measured),
        free=free_bytes(out),
        measured_samples=sum(count for count, _, _ in samples),
        timed_batches=len(timed),
        timed_images=timed_images,
        images_per_second=timed_images / max(timed_seconds, 1e-9),
        complete=bool(existing.get("complete")) and existing.get("resume_key") == run.resume_key,
    )


@dataclass(frozen=True)
class ViewJob:
    """One store of a +ms extraction: its settings, its path and its dataset (None: open it from the settings)."""

    config: ExtractConfig
    out: Path
    dataset: ImageDataset | None


def view_jobs(config: ExtractConfig, out: Path, scales: Sequence[float], flip: bool, patch_size: int) -> list[ViewJob]:
    """The base store `out`, then one view store per other (scale, flip) beside it (probekit/features/tta.py):
    each at the scaled image size, of the dataset opened at that size, mirrored for the flipped views."""
    check_scales(scales)
    jobs = [ViewJob(config, out, None)]
    for scale, flip_view in tta_views(scales, flip)[1:]:
        size = scaled_size(config.image_size, scale, patch_size)
        dataset = open_dataset(config.dataset, config.split, config.root, size, config.limit, config.subset_seed)
        path = tta_path(out, scale, flip_view)
        log.info("view scale %g%s: %dx%d -> %s", scale, " flipped" if flip_view else "", *size, path)
        view = FlippedView(dataset, size, flip_view, scale, out.name)
        jobs.append(ViewJob(replace(config, image_size=size), path, view))
    return jobs


def extract_views(
    config: ExtractConfig,
    out: str | Path,
    scales: Sequence[float],
    flip: bool,
    overwrite: bool = False,
    progress: bool = True,
    check_space: bool = True,
) -> list[Path]:
    """The base store `out` and one view store per other (scale, flip) beside it; each an ordinary extraction
    (resumable, skipped when complete)."""
    check_scales(scales)
    check_config(config)
    backbone = build_backbone(config.backbone, config.weights, config.random_init, config.seed, impl=config.impl)
    return [
        extract(
            job.config, job.out, overwrite, progress, backbone=backbone, dataset=job.dataset, check_space=check_space
        )
        for job in view_jobs(config, Path(out), scales, flip, backbone.patch_size)
    ]


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
    if not config.outputs or set(config.outputs) - set(FIELDS) or len(set(config.outputs)) != len(config.outputs):
        raise ProbekitError(
            f"--outputs {','.join(map(str, config.outputs))!r}: give a subset of {','.join(FIELDS)}, e.g. cls,mean"
        )


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


def batch_loader(config: ExtractConfig, run: Prepared, start: int) -> DataLoader[Any]:
    """Batches of the dataset from sample `start` on, in order, with unreadable samples flagged (Guarded)."""
    return DataLoader(
        Subset(Guarded(run.dataset), range(start, len(run.dataset))),
        batch_size=config.batch_size,
        shuffle=False,
        num_workers=default_workers(config.workers),
        collate_fn=Collate(
            config.image_size,
            run.backbone.preprocessing.interpolation,
            list(run.dataset.targets),
            with_originals=run.layout.originals is not None,
        ),
        pin_memory=run.device.type == "cuda",
        persistent_workers=False,
    )


def _forward_batch(
    run: Prepared, config: ExtractConfig, batch: dict[str, Any], position: int, skipped: list[dict[str, Any]]
) -> HostBatch:
    """One loaded batch through the backbone, its features on their way to host memory, ready to write."""
    features: dict[int, dict[str, torch.Tensor]] = {}
    peaks, copied = None, None
    if batch["ids"]:
        images = batch["images"].to(run.device, non_blocking=True)
        features, peaks, copied = _forward(
            run.backbone, images, run.layers, config.norm, run.use_amp, config.dtype, run.layout.outputs
        )
    return HostBatch(
        start=position,
        ids=batch["ids"],
        features=features,
        peaks=peaks,
        targets=batch["targets"],
        skipped=skipped,
        originals=batch["originals"],
        copied=copied,
    )


def _forward(
    backbone: Backbone,
    images: torch.Tensor,
    layers: list[int],
    norm: bool,
    amp: bool,
    dtype: str,
    outputs: Sequence[str] = FIELDS,
) -> tuple[dict[int, dict[str, torch.Tensor]], torch.Tensor | None, Any]:
    """Features of one batch in the storage dtype, on their way to host memory.

    Returns (features {layer: {output: host tensor}}, peaks (layers,) of |value| before a float16 cast or None,
    a CUDA event recorded after the non-blocking copies into pinned memory, or None on CPU). Only the chosen
    outputs leave the device; the float16 range check runs where the values are, so nothing waits for it here.
    """
    x = normalise(images, backbone.preprocessing)  # (B, 3, H, W)
    with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=amp):
        computed = backbone.forward_layers(x, layers, norm)
    store_dtype = getattr(torch, dtype)
    chosen = {
        layer: {name: getattr(out, name).detach() for name in outputs} for layer, out in computed.items()
    }  # {layer: {output: (B, D) | (B, h, w, D)}}
    peaks = None
    if dtype == "float16":
        peaks = torch.stack(
            [torch.stack([_peak(t) for t in fields.values()]).amax() for fields in chosen.values()]
        )  # (layers,)
    converted = {layer: {name: t.to(store_dtype) for name, t in fields.items()} for layer, fields in chosen.items()}
    if x.device.type != "cuda":
        return converted, peaks, None
    host = {layer: {name: _to_pinned(t) for name, t in fields.items()} for layer, fields in converted.items()}
    host_peaks = None if peaks is None else _to_pinned(peaks)
    copied = torch.cuda.Event()  # type: ignore[no-untyped-call]
    copied.record()
    return host, host_peaks, copied


def _peak(t: torch.Tensor) -> torch.Tensor:
    """max |t| as a float32 scalar, from one pass over t (aminmax; no |t| copy of the batch)."""
    low, high = torch.aminmax(t)
    return torch.maximum(low.neg(), high).float()


def _to_pinned(t: torch.Tensor) -> torch.Tensor:
    """A non-blocking copy of a CUDA tensor into pinned host memory (valid once the copy's event has passed)."""
    host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
    host.copy_(t, non_blocking=True)
    return host


def _compression_line(path: Path) -> str:
    """The extract log's account of a finished store: bytes per image by part, and how much the targets shrank."""
    with FeatureStore(path) as store:
        parts = store.stored_bytes()
        count = max(len(store), 1)
    raw, stored = parts["targets"]
    ratio = f" (compressed {raw / stored:.1f}x from {human_bytes(raw / count)})" if stored else ""
    return (
        f"{path.name}: per image features {human_bytes(parts['features'][1] / count)}, targets "
        f"{human_bytes(stored / count)}{ratio}, originals {human_bytes(parts['originals'][1] / count)}"
    )


def _duration(seconds: float) -> str:
    """3725 -> '1 h 2 min'; 42 -> '42 s'."""
    if seconds != seconds:  # NaN: nothing was timed
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def _impl_key(attrs: dict[str, Any]) -> tuple[str, ...]:
    """What a non-default impl adds to the resume key; nothing for timm, so existing stores still resume."""
    impl = attrs.get("impl", "timm")
    return () if impl == "timm" else (impl,)


def _on_error_key(config: ExtractConfig) -> tuple[str, ...]:
    """What --on-error skip adds to the resume key (a store with skips is not a complete raise-mode store)."""
    return () if config.on_error == "raise" else (config.on_error,)


def _outputs_key(config: ExtractConfig) -> tuple[str, ...]:
    """What storing only some outputs adds to the resume key; nothing for all three, so existing stores resume."""
    outputs = ordered_outputs(config.outputs)
    return () if outputs == FIELDS else ("outputs", *outputs)


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
