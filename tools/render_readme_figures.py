"""Render the README's pictures of dense features from the synthetic scenes, through the CLI.

Usage: python tools/render_readme_figures.py [--backbone pixels-p16] [--weights FILE] [--random-init]
       [--image-size 224] [--out docs/figures] [--seed 3]
Writes correspondence.png, pca.png, similarity.png and prediction.png to --out. Each figure is made
by the `probekit show ...` command that is printed before it runs, so the pictures are reproducible
by hand; prediction.png first extracts small synthetic train/val stores and trains a segmentation
and a depth probe on them (in a temporary directory). Everything is deterministic for a backbone.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

from probekit.cli import app

MAX_BYTES = 300_000  # README pictures stay small


def run(args: list[str]) -> None:
    """One probekit command, printed first so it can be repeated by hand."""
    print("probekit " + shlex.join(args), file=sys.stderr)
    app(args, standalone_mode=False)


def backbone_args(options: argparse.Namespace) -> list[str]:
    args = ["--backbone", options.backbone]
    if options.weights:
        args += ["--weights", str(options.weights)]
    if options.random_init:
        args.append("--random-init")
    return args


def feature_figures(options: argparse.Namespace) -> list[Path]:
    """correspondence.png, pca.png and similarity.png of synthetic pair --seed."""
    out, size = options.out, str(options.image_size)
    common = ["--synthetic", str(options.seed), *backbone_args(options), "--image-size", size]
    centre = f"{options.image_size // 2},{options.image_size // 2}"
    jobs = {
        "correspondence.png": ["show", "correspondence", *common, "--num-matches", "16"],
        "pca.png": ["show", "pca", *common],
        "similarity.png": ["show", "similarity", *common, "--point", centre],
    }
    for name, args in jobs.items():
        run([*args, "--out", str(out / name)])
    return [out / name for name in jobs]


def prediction_figure(options: argparse.Namespace, work: Path) -> Path:
    """prediction.png: segmentation and depth probes trained on small synthetic stores, shown on val images."""
    size = str(options.image_size)
    stores = {}
    for split, limit in (("train", options.train_images), ("val", options.val_images)):
        stores[split] = work / f"{split}.h5"
        run(
            [
                "extract",
                *backbone_args(options),
                "--dataset",
                "synthetic",
                "--split",
                split,
                "--image-size",
                size,
                "--limit",
                str(limit),
                "--workers",
                "0",
                "--quiet",
                "--out",
                str(stores[split]),
            ]
        )
    results = work / "results"
    for task, extra in (("segmentation", []), ("depth", ["--n-bins", "64"])):
        run(
            [
                "probe",
                "--task",
                task,
                "--features",
                str(stores["train"]),
                "--val",
                str(stores["val"]),
                "--lrs",
                "1e-3,1e-2",
                "--epochs",
                str(options.epochs),
                "--optimizer",
                "adamw",
                "--quiet",
                "--out",
                str(results),
                *extra,
            ]
        )
    heads = [
        arg for task in ("depth", "segmentation") for arg in ("--results", str(next(results.glob(f"{task}__*.json"))))
    ]
    out = options.out / "prediction.png"
    run(
        [
            "show",
            "prediction",
            *heads,
            "--features",
            str(stores["val"]),
            "--index",
            str(options.val_index),
            "--out",
            str(out),
        ]
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="pixels-p16", help="backbone alias (later: probekit-tiny)")
    parser.add_argument("--weights", type=Path, help="local checkpoint for --backbone")
    parser.add_argument("--random-init", action="store_true", help="seeded random weights (for test-* configs)")
    parser.add_argument("--image-size", type=int, default=224, help="square input size, a multiple of the patch")
    parser.add_argument("--seed", type=int, default=3, help="synthetic pair shown in the feature figures")
    parser.add_argument("--train-images", type=int, default=128, help="training scenes of the probes")
    parser.add_argument("--val-images", type=int, default=32, help="validation scenes of the probes")
    parser.add_argument("--val-index", type=int, default=0, help="validation scene shown in prediction.png")
    parser.add_argument("--epochs", type=int, default=10, help="probe training epochs")
    parser.add_argument("--out", type=Path, default=Path("docs/figures"), help="directory for the PNGs")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="probekit-figures-") as work:
        paths = [*feature_figures(options), prediction_figure(options, Path(work))]
    for path in paths:
        size = path.stat().st_size
        print(
            f"{path}: {size / 1000:.0f} KB"
            + ("  (over the 300 KB budget: lower --image-size)" if size > MAX_BYTES else "")
        )


if __name__ == "__main__":
    main()
