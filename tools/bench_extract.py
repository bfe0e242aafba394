"""Extraction throughput against the backbone's bare forward, measured in one run on the same settings.

    python tools/bench_extract.py                       # JPEG files (decode + resize), as a real benchmark reads
    python tools/bench_extract.py --source synthetic    # the synthetic scenes, ray cast in the loader

For every `--outputs` set (default: all outputs, then cls,mean) it measures, alternating `--repeats` times:
(a) the bare forward pass (`forward_layers` on a preprocessed batch already on the device, with the chosen
outputs copied to the host) and (b) the whole `extract` into a fresh store (loading, preprocessing, forward,
the background writer's HDF5 writes). The ratio it prints is the median over the repeats of extract / bare
of each adjacent pair, so a shared machine's drift hits both sides of a pair alike; the range shows the
noise. Target (issue 15): ratio >= 0.95 on the 2-core CPU machine at the default settings.

It also prints CPU milliseconds per image (this process and its DataLoader workers), which other tenants of
a shared machine disturb less than wall time, and the loader alone (the same DataLoader `extract` uses, no
forward, no writes): on a CPU whose cores the forward already fills, every CPU millisecond of loading is
wall time, so `ceiling` = forward CPU / (forward CPU + loader CPU) bounds the ratio before any write.

`--source files` (default) first writes `--num-images` JPEG files of `--file-size` pixels (an ImageNet-like
500x375 by default) into an ImageFolder tree, outside any timing. `--source synthetic` renders the synthetic
scenes in the loader: ray casting on the cores that also run the forward (~9 ms per 224 px image, with
depth, normals and masks to compress and store), a demo data set's cost that no real data set has.
The allocator is set as `probekit` commands set it (probekit/allocator.py; PROBEKIT_MALLOC=default leaves
glibc's defaults).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import torch

from probekit.allocator import keep_freed_memory
from probekit.backbones import build_backbone, resolve_layers
from probekit.device import resolve_device
from probekit.features import ExtractConfig, FeatureStore, extract
from probekit.features.extract import batch_loader, prepare
from probekit.features.preprocess import normalise


@dataclass(frozen=True)
class Rate:
    """Images per second of wall time and CPU milliseconds per image (process + reaped children)."""

    images_per_second: float
    cpu_ms_per_image: float


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its reaped children (the DataLoader workers of finished runs)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Timed:
    """Wall and CPU time of a block of work on `images` images: `with Timed(n) as t: ...; t.rate`."""

    def __init__(self, images: int) -> None:
        self.images = images

    def __enter__(self) -> Timed:
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        wall, cpu = time.perf_counter() - self._wall, cpu_seconds() - self._cpu
        self.rate = Rate(self.images / wall, 1000 * cpu / self.images)


def bare_forward(backbone, config: ExtractConfig, num_images: int) -> Rate:
    """`forward_layers` alone, on a batch that is already preprocessed and on the device, with the stored
    outputs copied to the host (what any use of the features needs)."""
    device = resolve_device(config.device)
    backbone.to(device)
    layers = resolve_layers(config.layers, backbone.depth)
    images = torch.randint(0, 256, (config.batch_size, *config.image_size, 3), dtype=torch.uint8, device=device)
    x = normalise(images, backbone.preprocessing)
    backbone.forward_layers(x, layers, config.norm)  # warm-up
    batches = max(1, num_images // config.batch_size)
    if device.type == "cuda":
        torch.cuda.synchronize()
    with Timed(batches * config.batch_size) as timed:
        for _ in range(batches):
            out = backbone.forward_layers(x, layers, config.norm)
            for features in out.values():  # the copy to host is part of any real use of the features
                for name in config.outputs:
                    getattr(features, name).float().cpu()
        if device.type == "cuda":
            torch.cuda.synchronize()
    return timed.rate


def full_extract(backbone, config: ExtractConfig) -> Rate:
    """A whole `extract` run into a fresh store (model already built)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.h5"
        with Timed(config.limit or 0) as timed:
            extract(config, path, progress=False, backbone=backbone)
        assert FeatureStore(path).attrs["complete"]
    return timed.rate


def loader_alone(backbone, config: ExtractConfig) -> Rate:
    """The DataLoader `extract` uses (workers, collate, originals), iterated with no forward and no writes."""
    run = prepare(config, backbone, None)
    with Timed(len(run.dataset)) as timed:
        for _ in batch_loader(config, run, 0):
            pass
    return timed.rate


def write_image_folder(root: Path, num_images: int, size: tuple[int, int]) -> None:
    """`num_images` JPEG files (quality 90) of `size` (width, height) in root/train/<class>/, two classes; the
    pixels are the synthetic scenes' (rendered once here, outside any timing), so decoding costs what a photo
    costs."""
    from PIL import Image

    from probekit.data.registry import open_dataset

    scenes = open_dataset("synthetic", "train", image_size=(size[1], size[0]))
    for index in range(num_images):
        folder = root / "train" / f"class{index % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(scenes[index]["image"]).save(folder / f"{index:06d}.jpg", quality=90)


def _runs(rates: list[Rate]) -> str:
    return ", ".join(f"{r.images_per_second:.2f}" for r in rates)


def report(outputs: str, bare: list[Rate], full: list[Rate], loader: Rate) -> None:
    """Print one `--outputs` set's measurements: rates, CPU costs, the paired ratio and the loader's ceiling."""
    ratios = [f.images_per_second / b.images_per_second for b, f in zip(bare, full, strict=True)]
    bare_cpu = median([r.cpu_ms_per_image for r in bare])
    full_cpu = median([r.cpu_ms_per_image for r in full])
    print(f"--outputs {outputs}")
    print(f"  bare forward : {median([r.images_per_second for r in bare]):8.2f} img/s median  ({_runs(bare)})")
    print(f"  full extract : {median([r.images_per_second for r in full]):8.2f} img/s median  ({_runs(full)})")
    print(
        f"  cpu per image: forward {bare_cpu:.1f} ms, extract {full_cpu:.1f} ms, loader alone "
        f"{loader.cpu_ms_per_image:.1f} ms ({loader.images_per_second:.0f} img/s)"
    )
    print(
        f"  ratio extract/forward: {median(ratios):.3f} median of {len(ratios)} pairs "
        f"(range {min(ratios):.3f}-{max(ratios):.3f}; target >= 0.95)"
    )
    print(
        f"  cpu-time ratio {bare_cpu / full_cpu:.3f}; the loader's ceiling "
        f"{bare_cpu / (bare_cpu + loader.cpu_ms_per_image):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="vit-s16")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-images", type=int, default=256)
    parser.add_argument("--layers", default="-1")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3, help="measure this many bare/extract pairs, alternating")
    parser.add_argument("--source", choices=("files", "synthetic"), default="files")
    parser.add_argument("--file-size", default="500x375", help="WIDTHxHEIGHT of the JPEG files of --source files")
    parser.add_argument(
        "--outputs-sets", default="cls,mean,patch;cls,mean", help="';'-separated --outputs values to measure"
    )
    args = parser.parse_args()
    malloc = "glibc heap kept (as every probekit command)" if keep_freed_memory() else "default malloc"

    backbone = build_backbone(args.backbone, random_init=True)
    source: dict[str, str] = {}
    if args.source == "files":
        files = tempfile.TemporaryDirectory()
        width, height = (int(v) for v in args.file_size.lower().split("x"))
        write_image_folder(Path(files.name), args.num_images, (width, height))
        source = {"dataset": "imagefolder", "root": files.name}
    print(
        f"backbone {args.backbone} (random init)  image {args.image_size}px  batch {args.batch_size}  "
        f"images {args.num_images}  workers {args.workers}  torch threads {torch.get_num_threads()}  "
        f"source {args.source}" + (f" ({args.file_size} JPEG)" if args.source == "files" else "") + f"  {malloc}"
    )
    for outputs in args.outputs_sets.split(";"):
        config = ExtractConfig(
            backbone=args.backbone,
            random_init=True,
            image_size=(args.image_size, args.image_size),
            layers=args.layers,
            batch_size=args.batch_size,
            workers=args.workers,
            device=args.device,
            outputs=tuple(outputs.split(",")),
            limit=args.num_images,
            **source,
        )
        loader = loader_alone(backbone, config)
        bare, full = [], []
        for _ in range(args.repeats):  # alternate, so drifts in machine speed hit both alike
            bare.append(bare_forward(backbone, config, args.num_images))
            full.append(full_extract(backbone, config))
        report(outputs, bare, full, loader)


if __name__ == "__main__":
    main()
