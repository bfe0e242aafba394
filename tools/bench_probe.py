"""Probe training against reading the store alone: throughput and peak memory, with a store larger than a cap.

    python tools/bench_probe.py --cap-mb 256 --task segmentation

Writes a random feature store bigger than --cap-mb (patch grids + masks/depths at label resolution),
then, each in a fresh process so that peak RSS is its own:
  read   one pass of the task's reader over the store (contiguous blocks), nothing else;
  train  one epoch of the task's probe (one head) over the same store.
Prints samples/s and peak RSS of both and their ratios. Streaming works when train's peak RSS stays
below the cap although the store does not fit under it.

    python tools/bench_probe.py --small-val

The small-VOC-like run (issue 14): a segmentation probe with its default options on a tiny train store
(--train-samples images) and a larger val store (--val-samples), `--epochs` passes (300: the issue's run).
Prints the seconds of the whole run. Run it on the code before a change (a checkout of the old commit first on
PYTHONPATH) and after; `--compare SECONDS` (the before run's seconds) prints the ratio before / after.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from probekit.allocator import keep_freed_memory
from probekit.data.base import TargetSpec
from probekit.features.store import FeatureStore, StoreLayout, StoreWriter
from probekit.probes.stream import StoreView, iterate_batches

GRID, DIM, LABEL = (16, 16), 384, (224, 224)


def make_store(path: Path, num_samples: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    targets = {
        "mask": TargetSpec(LABEL, "uint8", {"num_classes": 7, "ignore_index": 255}),
        "depth": TargetSpec(LABEL, "float32", {"min_depth": 1e-3, "max_depth": 20.0}),
        "label": TargetSpec((), "int64", {"num_classes": 6}),
    }
    attrs = {
        "backbone": "bench",
        "embed_dim": DIM,
        "depth": 12,
        "grid": list(GRID),
        "layers": [11],
        "dataset": "bench",
        "num_samples": num_samples,
        "dtype": "float16",
    }
    layout = StoreLayout(num_samples, [11], GRID, DIM, "float16", targets)
    with StoreWriter(path, layout, attrs, resume_key="bench") as writer:
        for start in range(0, num_samples, 100):
            n = min(100, num_samples - start)
            patch = rng.normal(size=(n, *GRID, DIM)).astype(np.float16)
            writer.write(
                start,
                [str(i) for i in range(start, start + n)],
                {11: {"cls": patch[:, 0, 0], "mean": patch.mean((1, 2)), "patch": patch}},
                {
                    "mask": rng.integers(0, 7, (n, *LABEL), dtype=np.uint8),
                    "depth": rng.uniform(0.5, 10, (n, *LABEL)).astype(np.float32),
                    "label": rng.integers(0, 6, n),
                },
            )
        writer.finish({})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def run_mode(mode: str, store_path: str, task: str, batch_size: int) -> dict:
    """One measurement in this process: 'read' or 'train'; memory counted above the process after its imports."""
    from probekit.tasks import TASKS
    from probekit.tasks.base import Splits

    store = FeatureStore(store_path)
    baseline = current_rss_mb()
    began = time.perf_counter()
    if mode == "read":
        target = {"segmentation": "mask", "depth": "depth", "classification": "label"}[task]
        field = "cls" if task == "classification" else "patch"
        reader = lambda s, b, e: {"x": s.read(field, b, e), "y": s.read_target(target, b, e)}  # noqa: E731
        count = sum(len(batch["y"]) for batch in iterate_batches(StoreView(store), reader, batch_size, shuffle=True))
    else:
        view = StoreView(store)
        extra = {"pooling": ["cls"], "n_blocks": [1]} if task == "classification" else {}
        options = TASKS.get(task).parse_options(
            {
                "lrs": [1e-3],
                "weight_decays": [0.0],
                "epochs": 1,
                "batch_size": batch_size,
                "optimizer": "adamw",
                **extra,
            }
        )
        # validation on a tiny held-out part keeps the measurement about training
        TASKS.get(task).run(Splits(view, StoreView(store, 50, holdout=True), None), options, "auto", progress=False)
        count = len(view)
    elapsed = time.perf_counter() - began
    return {
        "samples_per_s": count / elapsed,
        "peak_rss_mb": peak_rss_mb() - baseline,
        "seconds": elapsed,
        "baseline_rss_mb": baseline,
    }


def small_val_run(train_samples: int, val_samples: int, epochs: int) -> dict:
    """The small-VOC-like run: default segmentation options but `epochs`, timed around run_probe."""
    from probekit.tasks import TASKS, run_probe

    with tempfile.TemporaryDirectory() as tmp:
        train, val = Path(tmp) / "train.h5", Path(tmp) / "val.h5"
        make_store(train, train_samples, seed=0)
        make_store(val, val_samples, seed=1)
        options = TASKS.get("segmentation").parse_options({"epochs": epochs})
        began = time.perf_counter()
        path = run_probe("segmentation", train, Path(tmp) / "out", val=val, options=options, progress=False)
        seconds = time.perf_counter() - began
        result = json.loads(path.read_text())
    return {"seconds": seconds, "mIoU": result["metrics"]["mIoU"], "evaluations": len(result.get("history", []))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cap-mb", type=float, default=256.0, help="memory cap the store must exceed")
    parser.add_argument("--task", default="segmentation", choices=["segmentation", "depth", "classification"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--mode", choices=["read", "train"], help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--small-val", action="store_true", help="time the small-VOC-like segmentation run")
    parser.add_argument("--train-samples", type=int, default=8)
    parser.add_argument("--val-samples", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--compare", type=float, help="seconds of the same run on other code: print the ratio")
    args = parser.parse_args()
    if args.small_val:
        run = small_val_run(args.train_samples, args.val_samples, args.epochs)
        print(
            f"small-val segmentation: train {args.train_samples}, val {args.val_samples}, {args.epochs} epochs: "
            f"{run['seconds']:.1f} s  (mIoU {run['mIoU']:.4f}, {run['evaluations']} history records)"
        )
        if args.compare:
            print(f"ratio other / this run: {args.compare / run['seconds']:.1f}x")
        return
    if args.mode:  # child process: the allocator as `probekit` commands set it (PROBEKIT_MALLOC=default: glibc's)
        keep_freed_memory()
        print(json.dumps(run_mode(args.mode, args.store, args.task, args.batch_size)))
        return

    per_sample_mb = (np.prod(GRID) * DIM * 2 * 1.0 + np.prod(LABEL) * 5) / 2**20
    num_samples = int(1.25 * args.cap_mb / per_sample_mb) + 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.h5"
        make_store(path, num_samples)
        store_mb = path.stat().st_size / 2**20
        results = {}
        for mode in ("read", "train"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--mode",
                    mode,
                    "--store",
                    str(path),
                    "--task",
                    args.task,
                    "--batch-size",
                    str(args.batch_size),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    read, train = results["read"], results["train"]
    print(
        f"task {args.task}  store {store_mb:.0f} MB ({num_samples} samples, grid {GRID}, D {DIM}, labels {LABEL})  "
        f"cap {args.cap_mb:.0f} MB  batch {args.batch_size}"
    )
    print(f"(peak RSS counted above each process after its imports: {read['baseline_rss_mb']:.0f} MB of torch & co.)")
    print(f"read alone : {read['samples_per_s']:9.1f} samples/s   peak RSS +{read['peak_rss_mb']:6.0f} MB")
    print(f"train probe: {train['samples_per_s']:9.1f} samples/s   peak RSS +{train['peak_rss_mb']:6.0f} MB")
    print(
        f"ratios train/read: throughput {train['samples_per_s'] / read['samples_per_s']:.3f}   "
        f"peak RSS {train['peak_rss_mb'] / read['peak_rss_mb']:.2f}"
    )
    verdict = "below" if train["peak_rss_mb"] < args.cap_mb else "ABOVE"
    print(
        f"train peak RSS is {verdict} the {args.cap_mb:.0f} MB cap with a {store_mb:.0f} MB store "
        f"(store/cap {store_mb / args.cap_mb:.2f})"
    )


if __name__ == "__main__":
    main()
