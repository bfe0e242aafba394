"""A layer sweep in one pass against one single-layer run per layer: wall time and feature bytes read.

    python tools/bench_sweep.py --task segmentation --train 64 --val 32 --iters 100

Extracts synthetic scenes with probekit-tiny (every block stored) into --out (reused when there), then runs
`--layers K` for each stored layer K and then `--sweep-layers all` once, with the same options (after one
untimed warm-up run), and prints the wall and CPU time and the feature bytes each read (FeatureStore.read,
counted), and the largest per-layer difference of the task's main metric between the sweep's `layer_sweep`
and the single runs (0 when they agree). Torch runs on `--threads` threads (default 1): on a loaded machine
idle intra-op threads spin, and with more threads than free cores that spinning, not the probe, dominated
both wall and CPU time (25x on the shared 2-core machine this was written on).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from probekit.features import ExtractConfig, extract
from probekit.features.store import FeatureStore
from probekit.tasks import TASKS, run_probe

READ = FeatureStore.read
BYTES = [0]


def counted(self: FeatureStore, *args: Any, **kwargs: Any) -> Any:
    values = READ(self, *args, **kwargs)
    BYTES[0] += values.nbytes
    return values


def stores(out: Path, train: int, val: int, size: int) -> tuple[Path, Path]:
    """probekit-tiny features of `train` / `val` synthetic scenes, every block stored."""
    paths = []
    for split, limit in (("train", train), ("val", val)):
        config = ExtractConfig(
            backbone="probekit-tiny", dataset="synthetic", split=split, image_size=(size, size), layers="all",
            batch_size=32, workers=0, limit=limit,
        )  # fmt: skip
        paths.append(extract(config, out / f"tiny-{split}-{size}-n{limit}.h5", progress=False))
    return paths[0], paths[1]


def timed(
    task: str, train: Path, val: Path, out: Path, options: dict[str, Any]
) -> tuple[float, float, int, dict[str, Any]]:
    """(wall seconds, CPU seconds, feature bytes read, results JSON) of one probe run."""
    BYTES[0] = 0
    began, cpu = time.perf_counter(), time.process_time()
    path = run_probe(
        task, train, out, val=val, options=TASKS.get(task).parse_options(options), progress=False, overwrite=True
    )
    return time.perf_counter() - began, time.process_time() - cpu, BYTES[0], json.loads(path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="segmentation", choices=("classification", "segmentation", "depth"))
    parser.add_argument("--train", type=int, default=64)
    parser.add_argument("--val", type=int, default=32)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_sweep"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    FeatureStore.read = counted  # type: ignore[method-assign]  # count the bytes every read returns
    train, val = stores(args.out, args.train, args.val, args.size)
    options = {"iters": args.iters, "batch_size": 16 if args.task != "classification" else 32}
    key = TASKS.get(args.task).columns[0].key
    results = args.out / "results"
    timed(args.task, train, val, results, {**options, "iters": 1})  # warm-up: imports and first kernel calls
    singles = {}
    single_wall = single_cpu = single_read = 0.0
    for layer in FeatureStore(train).layers:
        w, c, r, singles[layer] = timed(args.task, train, val, results, {**options, "layers": (layer,)})
        single_wall, single_cpu, single_read = single_wall + w, single_cpu + c, single_read + r
    wall, cpu, read, sweep = timed(args.task, train, val, results, {**options, "sweep_layers": "all"})
    per_layer = {entry["layer"]: entry["metrics"][key] for entry in sweep["layer_sweep"]}
    gap = max(abs(singles[layer]["metrics"][key] - value) for layer, value in per_layer.items())
    print(f"{args.task}, {len(per_layer)} layers, {args.iters} iters, {args.train}/{args.val} scenes at {args.size} px")
    print("| run | wall s | CPU s | feature MB read |\n|---|---|---|---|")
    print(f"| --layers K, once per layer | {single_wall:.1f} | {single_cpu:.1f} | {single_read / 1e6:.1f} |")
    print(f"| --sweep-layers all (one pass) | {wall:.1f} | {cpu:.1f} | {read / 1e6:.1f} |")
    print(f"largest per-layer {key} difference, sweep vs single runs: {gap:.2e}")


if __name__ == "__main__":
    main()
