"""Extraction at scale on this machine.

    python tools/bench_scale.py --speedup [--backbone vit-s16 --image-size 224 --num-images 96 --batch-size 16]

--speedup: the same `probekit extract` (random-init backbone, synthetic scenes, DataLoader workers 0) run as
(a) one process with one thread, (b) one process with one thread per core, (c) torchrun with 2 ranks of one
thread each (`--nproc 2`, gloo), each a fresh `python -m probekit extract` process timed from start to the
complete store (2 ranks: the joined store), and by the extraction loop alone (the store's `extract_seconds`;
2 ranks: the slower rank), which leaves out starting Python, torch and torchrun. Prints images/s of each, the
speedup of (c) over (a) and over (b), and checks that the 2-rank store's features equal the 1-process store's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from probekit.features import FeatureStore

REPO = Path(__file__).resolve().parents[1]


def timed_extract(out: Path, args: list[str], nproc: int, threads: int) -> float:
    """Wall seconds of one `probekit extract` process (with --nproc: torchrun, its ranks and the join)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    command = [sys.executable, "-m", "probekit", "extract", *args, "--out", str(out), "--quiet"]
    command += ["--nproc", str(nproc)] if nproc > 1 else []
    began = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - began


def speedup(backbone: str, image_size: int, num_images: int, batch_size: int) -> None:
    """Print the 2-rank gloo speedup over one process (section of this tool; see the module docstring)."""
    args = [
        *("--backbone", backbone, "--random-init", "--image-size", str(image_size), "--device", "cpu"),
        *("--batch-size", str(batch_size), "--limit", str(num_images), "--workers", "0", "--layers", "-1"),
    ]
    cores = os.cpu_count() or 1
    runs = {"1 process x 1 thread": (1, 1), f"1 process x {cores} threads": (1, cores), "2 ranks x 1 thread": (2, 1)}
    seconds: dict[str, float] = {}
    loops: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, (nproc, threads)) in enumerate(runs.items()):
            path = Path(tmp) / f"run{index}.h5"
            seconds[name] = timed_extract(path, args, nproc, threads)
            with FeatureStore(path) as store:  # the extraction loop alone (2 ranks: the slower one)
                loops[name] = float(store.attrs["extract_seconds"])
            print(
                f"{name:>24}: {seconds[name]:7.1f} s  {num_images / seconds[name]:7.2f} img/s end to end; "
                f"loop {loops[name]:7.1f} s  {num_images / loops[name]:7.2f} img/s",
                flush=True,
            )
        with FeatureStore(Path(tmp) / "run0.h5") as one, FeatureStore(Path(tmp) / "run2.h5") as two:
            same = one.ids == two.ids and all(
                np.array_equal(one.read(field), two.read(field)) for field in ("cls", "mean", "patch")
            )
    for label, times in (("end to end", seconds), ("loop only", loops)):
        base, wide, ranks = times.values()
        print(
            f"2-rank gloo speedup ({label}): {base / ranks:.2f}x over 1 process x 1 thread, "
            f"{wide / ranks:.2f}x over 1 process x {cores} threads"
        )
    print(f"2-rank store equals the 1-process store: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speedup", action="store_true", help="2-rank torchrun (gloo) extraction vs 1 process")
    parser.add_argument("--backbone", default="vit-s16")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--num-images", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    if not args.speedup:
        parser.error("choose what to measure: --speedup")
    speedup(args.backbone, args.image_size, args.num_images, args.batch_size)


if __name__ == "__main__":
    main()
