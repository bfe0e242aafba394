"""Disk budgets of the benchmark stores, computed by the store's own size formula (StoreLayout.sample_bytes).

    python tools/disk_budget.py              # print the table (markdown)
    python tools/disk_budget.py --write      # replace the table in docs/scale.md

Each row is one split at the size and layers of its dataset preset (configs/datasets/*.yaml; ADE20K at
the 512 px protocol, rounded up to 518 = 37 x 14), with the targets its adapter stores (the same
TargetSpec code: probekit/data/depth_targets.py for NYU and KITTI) and the originals' estimate. Features
are float16 for ViT-S/14, B/14 and L/14 (embed dim 384, 768, 1024): "cls+mean" keeps the two global
vectors per layer, "all" adds the patch grid. tests/test_disk_budget.py checks that docs/scale.md holds this table.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from probekit.data.base import TargetSpec
from probekit.data.crop_window import centre_window
from probekit.data.depth_targets import depth_targets
from probekit.data.kitti import KB_CROP
from probekit.data.kitti import MAX_DEPTH as KITTI_MAX_DEPTH
from probekit.data.nyuv2 import MAX_DEPTH as NYU_MAX_DEPTH
from probekit.data.nyuv2_sync import FRAME as NYU_FRAME
from probekit.features.space import human_bytes
from probekit.features.store import FIELDS, StoreLayout

DOC = Path(__file__).parents[1] / "docs" / "scale.md"
BEGIN, END = "<!-- disk-budget: begin (tools/disk_budget.py --write) -->", "<!-- disk-budget: end -->"
PATCH = 14
BACKBONES = {"ViT-S/14": 384, "ViT-B/14": 768, "ViT-L/14": 1024}


@dataclass(frozen=True)
class Split:
    """One store: a benchmark split at its preset's size and layers, with its adapter's targets."""

    dataset: str
    split: str
    samples: int
    size: tuple[int, int]
    layers: int
    targets: dict[str, TargetSpec]
    originals: tuple[str, ...] | None


def depth_split(dataset: str, split: str, samples: int, frame: tuple[int, int], size: tuple[int, int]) -> Split:
    """A depth dataset: depth in original pixels of the image's window of `frame`, plus the eval crop box."""
    max_depth = KITTI_MAX_DEPTH if dataset == "kitti" else NYU_MAX_DEPTH
    targets = depth_targets(centre_window(frame, size), size, max_depth, "garg" if dataset == "kitti" else "eigen")
    return Split(dataset, split, samples, size, 1, targets, ("depth",))


def benchmarks() -> list[Split]:
    """The splits of docs/datasets/counts.md at their preset sizes."""
    label = {"label": TargetSpec((), "int64", {})}
    ade = {"mask": TargetSpec((518, 518), "uint8", {})}
    return [
        Split("imagenet", "train", 1_281_167, (224, 224), 4, label, None),
        Split("imagenet", "val", 50_000, (224, 224), 4, label, None),
        Split("ade20k", "train", 20_210, (518, 518), 1, ade, ("mask",)),
        Split("ade20k", "val", 2_000, (518, 518), 1, ade, ("mask",)),
        depth_split("nyuv2-sync", "train", 24_231, NYU_FRAME, (336, 448)),
        depth_split("nyuv2-sync", "test", 654, NYU_FRAME, (336, 448)),
        depth_split("kitti", "train", 23_158, KB_CROP, (224, 784)),
        depth_split("kitti", "test", 652, KB_CROP, (224, 784)),
    ]


def split_bytes(split: Split, dim: int, outputs: tuple[str, ...] = FIELDS) -> tuple[int, int, int]:
    """(feature bytes with ids, target bytes with originals at most, target bytes as typically stored) of the
    whole split, storing `outputs` of each layer (`extract --outputs`)."""
    grid = (split.size[0] // PATCH, split.size[1] // PATCH)
    layers = list(range(split.layers))
    bare = StoreLayout(split.samples, layers, grid, dim, "float16", {}, outputs=outputs)
    whole = StoreLayout(
        split.samples, layers, grid, dim, "float16", split.targets, originals=split.originals, outputs=outputs
    )
    features = bare.sample_bytes
    stored = whole.size(split.samples)  # compressed maps at TYPICAL_MAP_RATIO, the --dry-run estimate
    return features * split.samples, (whole.sample_bytes - features) * split.samples, stored.targets + stored.originals


def table() -> str:
    """The markdown table: per split, features per backbone (cls+mean / all outputs) and the targets."""
    head = "| dataset | split | images | size | layers | " + " | ".join(f"{b} cls+mean / all" for b in BACKBONES)
    head += " | targets (+ originals): uncompressed / stored (est.) |"
    lines = [head, "|---|---|---:|---|---:|" + "---:|" * len(BACKBONES) + "---:|"]
    for split in benchmarks():
        cells = []
        for dim in BACKBONES.values():
            small, _, _ = split_bytes(split, dim, outputs=("cls", "mean"))
            full, raw, stored = split_bytes(split, dim)
            cells.append(f"{human_bytes(small)} / {human_bytes(full)}")
        size = f"{split.size[0]}x{split.size[1]}"
        names = ", ".join(split.targets) + (f" (+ {', '.join(split.originals)})" if split.originals else "")
        row = f"| {split.dataset} | {split.split} | {split.samples:,} | {size} | {split.layers} | "
        lines.append(row + " | ".join(cells) + f" | {human_bytes(raw)} / {human_bytes(stored)}: {names} |")
    return "\n".join(lines)


def write_doc(path: Path = DOC) -> None:
    """Replace the table between the markers of docs/scale.md."""
    text = path.read_text()
    new, count = re.subn(
        re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: f"{BEGIN}\n{table()}\n{END}", text, flags=re.S
    )
    if count != 1:
        raise SystemExit(f"{path} lacks the disk-budget markers")
    path.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"replace the table in {DOC.name}")
    if parser.parse_args().write:
        write_doc()
    else:
        print(table())


if __name__ == "__main__":
    main()
