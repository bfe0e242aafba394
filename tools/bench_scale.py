"""Peak memory against store size: extraction and every probe, at 1x, 4x and 10x a base size.

    python tools/bench_scale.py                      # base 256 samples: stores of 256, 1024, 2560
    python tools/bench_scale.py --base 128 --factors 1,4,10 --tasks classification,segmentation
    python tools/bench_scale.py --speedup [--backbone vit-s16 --image-size 224 --num-images 96 \
        --batch-size 16]

Section "rss" (the default). Each measurement runs in a fresh subprocess, so its peak RSS
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`) is its own:
  extract   a real `probekit extract` of N synthetic scenes with the tiny random-init DINOv2 (workers=0, so
            the loading happens in the measured process), N = base x factor;
  <task>    one epoch of the task's probe (one head) on a synthetic store of N samples (patch grids, masks,
            depths, labels at label resolution), validated on every 10th row held out (so val grows too).
The stores are written with probekit's own StoreWriter. With the default base the 10x store holds 5x
(classification, batch 64) to 20x (segmentation and depth, batch 16) the block of batch x 8 samples a
probe holds in memory, so a reader that loads the store whole shows up as growth. Prints peak RSS per
size (absolute, and above the process's RSS after its imports) and whether the absolute peak stays
within +-10% of the 1x run ("flat").

Section "probe ranks" (`--probe-ranks`): the classification probe with DINOv2's grid (13 learning rates x
2 poolings x 2 block counts = 52 heads) on a store of global features (4 layers), `--probe-iters` steps,
in one process and over 2 gloo ranks under torchrun (1 thread per rank), each timed as a whole command.
Prints both wall times and the speedup.

Section "speedup" (`--speedup`): the same `probekit extract` (random-init backbone, synthetic scenes,
DataLoader workers 0) run as
(a) one process with one thread, (b) one process with one thread per core, (c) torchrun with 2 ranks of one
thread each (`--nproc 2`, gloo), each a fresh `python -m probekit extract` process timed from start to the
complete store (2 ranks: the joined store), and by the extraction loop alone (the store's `extract_seconds`;
2 ranks: the slower rank), which leaves out starting Python, torch and torchrun. Prints images/s of each, the
speedup of (c) over (a) and over (b), and checks that the 2-rank store's features equal the 1-process store's.

logreg loads train, val and test features into memory by design (L-BFGS on the whole split, DINOv2's
protocol; bounded by its `max_memory_gb` option), so its RSS grows with the store: expected, reported.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from probekit.allocator import keep_freed_memory
from probekit.data.base import TargetSpec
from probekit.features import FeatureStore
from probekit.features.store import StoreLayout, StoreWriter

REPO = Path(__file__).resolve().parents[1]

GRID, DIM, LABEL, CLASSES = (16, 16), 192, (64, 64), 10
PROBES = ("classification", "segmentation", "depth", "knn", "logreg")
IN_MEMORY_BY_DESIGN = ("logreg",)
# One epoch, one head: the measurement is about the data path, not the grid.
PROBE_OPTIONS: dict[str, dict] = {
    "classification": {"lrs": [1e-3], "epochs": 1, "batch_size": 64, "pooling": ["cls"], "n_blocks": [1]},
    "segmentation": {"lrs": [1e-3], "epochs": 1, "batch_size": 16, "val_subset": 0},
    "depth": {"lrs": [1e-3], "epochs": 1, "batch_size": 16, "val_subset": 0},
    "knn": {"ks": [10, 20]},
    "logreg": {"cs": [1.0], "max_iter": 50},
}


def make_store(path: Path, num_samples: int, seed: int = 0) -> None:
    """A complete synthetic store: one layer (11) of random fp16 features and random labels, masks and depths."""
    rng = np.random.default_rng(seed)
    targets = {
        "label": TargetSpec((), "int64", {"num_classes": CLASSES}),
        "mask": TargetSpec(LABEL, "uint8", {"num_classes": CLASSES, "ignore_index": 255}),
        "depth": TargetSpec(LABEL, "float32", {"min_depth": 1e-3, "max_depth": 10.0}),
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
        for start in range(0, num_samples, 128):
            n = min(128, num_samples - start)
            patch = rng.standard_normal((n, *GRID, DIM), dtype=np.float32).astype(np.float16)  # (n, h, w, D)
            writer.write(
                start,
                [f"s{i}" for i in range(start, start + n)],
                {11: {"cls": patch[:, 0, 0], "mean": patch.mean((1, 2)), "patch": patch}},
                {
                    "label": rng.integers(0, CLASSES, n),
                    "mask": rng.integers(0, CLASSES, (n, *LABEL), dtype=np.uint8),
                    "depth": rng.uniform(0.5, 9.5, (n, *LABEL)).astype(np.float32),
                },
            )
        writer.finish({})


def peak_rss_mb() -> float:
    """This process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def child_probe(task: str, store_path: str) -> dict:
    """One epoch of `task` on the store, validated on every 10th row (held out); in this (fresh) process."""
    from probekit.features.store import FeatureStore
    from probekit.probes.stream import StoreView
    from probekit.tasks import TASKS
    from probekit.tasks.base import Splits

    store = FeatureStore(store_path)
    runner = TASKS.get(task)
    options = runner.parse_options(PROBE_OPTIONS[task])
    baseline = current_rss_mb()
    began = time.perf_counter()
    runner.run(Splits(StoreView(store, 10), StoreView(store, 10, holdout=True), None), options, "cpu", progress=False)
    return {"seconds": time.perf_counter() - began, "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": baseline}


def child_extract(num_samples: int, out: str) -> dict:
    """A real extraction of `num_samples` synthetic scenes with the tiny random-init DINOv2, loading in-process."""
    from probekit.data.synthetic import SyntheticScenes
    from probekit.data.synthetic_adapter import SyntheticDataset
    from probekit.features import ExtractConfig, extract

    dataset = SyntheticDataset("train", (56, 84))  # 512 scenes; more of the same generator below
    dataset.scenes = SyntheticScenes("train", num_samples, dataset.config, dataset.seed)
    config = ExtractConfig(
        backbone="test-dinov2",
        random_init=True,
        image_size=(56, 84),
        layers="1,-1",
        batch_size=16,
        workers=0,
        device="cpu",
    )
    baseline = current_rss_mb()
    began = time.perf_counter()
    extract(config, out, progress=False, dataset=dataset)
    return {"seconds": time.perf_counter() - began, "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": baseline}


def measure(*child_args: str) -> dict:
    """Run this script as a child in a fresh interpreter (one thread) and parse its JSON line."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", *child_args],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    if out.returncode != 0:
        raise SystemExit(f"child {child_args} failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def print_row(name: str, sizes: list[str], runs: list[dict], note: str = "") -> bool:
    """One line per measured thing: peak RSS per size, growth above its imports, and the +-10% verdict."""
    peaks = [r["peak_rss_mb"] for r in runs]
    growth = [r["peak_rss_mb"] - r["baseline_rss_mb"] for r in runs]
    spread = max(abs(p / peaks[0] - 1) for p in peaks)
    flat = spread <= 0.10
    cells = "  ".join(f"{s}: {p:6.0f} MB (+{g:5.0f})" for s, p, g in zip(sizes, peaks, growth, strict=True))
    seconds = "/".join(f"{r['seconds']:.0f}" for r in runs)
    verdict = "flat" if flat else "GROWS"
    print(f"{name:15s} {cells}   max dev {spread * 100:5.1f}%  {verdict}  ({seconds} s){note}")
    return flat


def rss_section(base: int, factors: list[int], tasks: list[str], with_extract: bool) -> bool:
    """Peak RSS of extraction and of each probe against store size; True when every streamed path is flat."""
    all_flat = True
    with tempfile.TemporaryDirectory() as tmp:
        sizes = [base * f for f in factors]
        scale = ", ".join(f"{f}x" for f in factors)
        print(f"peak RSS against store size ({scale} of {base} samples; each in a fresh process)")
        print("  cells: absolute peak RSS (+ growth above the process's RSS after imports); verdict on the absolute")
        if with_extract:
            runs = [measure("extract", str(n), str(Path(tmp) / f"extract-{n}.h5")) for n in sizes]
            mb = [(Path(tmp) / f"extract-{n}.h5").stat().st_size / 2**20 for n in sizes]
            labels = [f"{n} img {m:.0f} MB" for n, m in zip(sizes, mb, strict=True)]
            all_flat &= print_row("extract", labels, runs)
        stores = {}
        for n in sizes:
            stores[n] = Path(tmp) / f"store-{n}.h5"
            make_store(stores[n], n)
        labels = [f"{n} ({stores[n].stat().st_size / 2**20:.0f} MB)" for n in sizes]
        for task in tasks:
            runs = [measure("probe", task, str(stores[n])) for n in sizes]
            by_design = task in IN_MEMORY_BY_DESIGN
            flat = print_row(task, labels, runs, "  (in memory by design)" if by_design else "")
            all_flat &= flat or by_design
    print("every streamed path flat within +-10%" if all_flat else "some streamed path GROWS with the store")
    return all_flat


def make_global_store(path: Path, num_samples: int, classes: int, seed: int = 0) -> None:
    """A store of cls/mean features only (a 1 x 1 patch grid), 4 layers, for the classification grid."""
    rng = np.random.default_rng(seed)
    layers, dim = [8, 9, 10, 11], 384
    targets = {"label": TargetSpec((), "int64", {"num_classes": classes})}
    attrs = {"backbone": "bench", "embed_dim": dim, "depth": 12, "grid": [1, 1], "layers": layers, "dataset": "bench"}
    layout = StoreLayout(num_samples, layers, (1, 1), dim, "float16", targets)
    centres = rng.standard_normal((classes, dim)).astype(np.float32)
    with StoreWriter(path, layout, attrs | {"num_samples": num_samples, "dtype": "float16"}, "bench") as writer:
        for start in range(0, num_samples, 1024):
            n = min(1024, num_samples - start)
            labels = rng.integers(0, classes, n)
            features = {}
            for k in layers:
                x = (centres[labels] + rng.standard_normal((n, dim), dtype=np.float32)).astype(np.float16)  # (n, D)
                features[k] = {"cls": x, "mean": x, "patch": x[:, None, None]}
            writer.write(start, [f"s{i}" for i in range(start, start + n)], features, {"label": labels})
        writer.finish({})


def probe_ranks_section(samples: int, classes: int, iters: int, batch_size: int) -> None:
    """Wall time of the 52-head classification probe in 1 process and over 2 gloo ranks (torchrun)."""
    with tempfile.TemporaryDirectory() as tmp:
        train, val = Path(tmp) / "train.h5", Path(tmp) / "val.h5"
        make_global_store(train, samples, classes, seed=0)
        make_global_store(val, max(classes, samples // 10), classes, seed=1)
        options = {"iters": iters, "val_subset": 0, "batch_size": batch_size}
        script = Path(tmp) / "probe.py"
        script.write_text(
            "import sys\nfrom probekit.tasks import TASKS, run_probe\n"
            f"options = TASKS.get('classification').parse_options({options!r})\n"
            "run_probe('classification', sys.argv[1], sys.argv[2], val=sys.argv[3], options=options, device='cpu',"
            " progress=False)\n"
        )
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        seconds = {}
        for ranks in (1, 2):
            launcher = [sys.executable] if ranks == 1 else [sys.executable, "-m", "torch.distributed.run"]
            launcher += ["--nproc-per-node", str(ranks), "--master-port", "29517"] if ranks > 1 else []
            began = time.perf_counter()
            subprocess.run([*launcher, str(script), str(train), f"{tmp}/out{ranks}", str(val)], env=env, check=True)
            seconds[ranks] = time.perf_counter() - began
    print(
        f"classification probe, 52 heads, {samples} samples x 4 layers x 384, {classes} classes, "
        f"{iters} steps of {batch_size}: "
        f"1 process {seconds[1]:.1f} s, 2 gloo ranks {seconds[2]:.1f} s, speedup {seconds[1] / seconds[2]:.2f}x"
    )


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
    parser.add_argument("--base", type=int, default=256, help="samples of the 1x store (and images of 1x extraction)")
    parser.add_argument("--factors", default="1,4,10", help="store sizes as multiples of --base")
    parser.add_argument("--tasks", default=",".join(PROBES), help="probes to measure, comma-separated")
    parser.add_argument("--no-extract", action="store_true", help="skip the extraction measurement")
    parser.add_argument("--probe-ranks", action="store_true", help="time the classification probe on 1 and 2 ranks")
    parser.add_argument("--probe-samples", type=int, default=20000, help="training samples of --probe-ranks")
    parser.add_argument("--probe-classes", type=int, default=100, help="classes of --probe-ranks")
    parser.add_argument("--probe-iters", type=int, default=200, help="optimizer steps of --probe-ranks")
    parser.add_argument("--probe-batch-size", type=int, default=128, help="batch of --probe-ranks (DINOv2: 128)")
    parser.add_argument("--speedup", action="store_true", help="2-rank torchrun (gloo) extraction vs 1 process")
    parser.add_argument("--backbone", default="vit-s16", help="backbone of --speedup (random init)")
    parser.add_argument("--image-size", type=int, default=224, help="image size of --speedup")
    parser.add_argument("--num-images", type=int, default=96, help="images of --speedup")
    parser.add_argument("--batch-size", type=int, default=16, help="batch of --speedup")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # a measurement, in its own process, with the allocator as `probekit` commands set it
        keep_freed_memory()
        kind, *rest = args.child
        result = child_extract(int(rest[0]), rest[1]) if kind == "extract" else child_probe(rest[0], rest[1])
        print(json.dumps(result))
        return
    if args.speedup:
        speedup(args.backbone, args.image_size, args.num_images, args.batch_size)
        return
    if args.probe_ranks:
        probe_ranks_section(args.probe_samples, args.probe_classes, args.probe_iters, args.probe_batch_size)
        return
    factors = [int(f) for f in args.factors.split(",")]
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = sorted(set(tasks) - set(PROBES))
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(PROBES)}")
    flat = rss_section(args.base, factors, tasks, not args.no_extract)
    sys.exit(0 if flat else 1)


if __name__ == "__main__":
    main()
