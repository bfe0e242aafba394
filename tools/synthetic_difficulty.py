"""How hard are the synthetic scenes? Linear probes (scikit-learn) on cached features of several backbones.

    python tools/synthetic_difficulty.py --backbones pixels,vit-s16,dinov2-s14 --train 512 --val 256

Extracts (or reuses) train/val stores with random-init weights for every backbone (pixels needs none),
then fits plain linear models and prints one markdown table:
  - classification: logistic regression on [CLS, mean] of the last layer; accuracy vs the majority class;
  - segmentation: per-patch logistic regression, each patch labelled by its majority mask class;
    patch accuracy and patch mIoU vs predicting the most frequent class;
  - depth: per-patch ridge regression of log depth (patch mean of valid pixels); delta<1.25 and AbsRel
    vs predicting the training mean log depth.
These are quick patch-level stand-ins for the full probes (probekit probe), meant to show the benchmark is
neither trivial nor noise: baselines must land well above chance and well below the ceiling (1.0).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from probekit.features import ExtractConfig, FeatureStore, extract


def patch_targets(store: FeatureStore) -> tuple[np.ndarray, np.ndarray]:
    """Per patch: majority mask class (N*h*w,) and mean log depth over valid pixels (N*h*w,), NaN if none."""
    h, w = store.grid
    mask = store.read_target("mask")
    depth = store.read_target("depth")
    N, H, W = mask.shape
    ph, pw = H // h, W // w
    mask = mask[:, : h * ph, : w * pw].reshape(N, h, ph, w, pw).transpose(0, 1, 3, 2, 4).reshape(N * h * w, ph * pw)
    num_classes = int(store.target_attrs("mask")["num_classes"])
    counts = np.stack([(mask == k).sum(1) for k in range(num_classes)], axis=1)  # (N*h*w, C)
    depth = depth[:, : h * ph, : w * pw].reshape(N, h, ph, w, pw).transpose(0, 1, 3, 2, 4).reshape(N * h * w, ph * pw)
    valid = depth > 0
    log_depth = np.where(valid, np.log(np.where(valid, depth, 1.0)), 0.0).sum(1) / np.maximum(valid.sum(1), 1)
    log_depth[valid.sum(1) == 0] = np.nan
    return counts.argmax(1), log_depth


def miou(pred: np.ndarray, true: np.ndarray, num_classes: int) -> float:
    ious = []
    for k in range(num_classes):
        union = np.sum((pred == k) | (true == k))
        if union:
            ious.append(np.sum((pred == k) & (true == k)) / union)
    return float(np.mean(ious))


def depth_scores(pred_log: np.ndarray, true_log: np.ndarray) -> tuple[float, float]:
    p, g = np.exp(pred_log), np.exp(true_log)
    return float(np.mean(np.maximum(p / g, g / p) < 1.25)), float(np.mean(np.abs(p - g) / g))


def probe(train: FeatureStore, val: FeatureStore, max_patches: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    scores = {}
    # classification on [cls, mean]
    xtr = np.concatenate([train.read("cls"), train.read("mean")], 1).astype(np.float32)
    xva = np.concatenate([val.read("cls"), val.read("mean")], 1).astype(np.float32)
    ytr, yva = train.read_target("label"), val.read_target("label")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)).fit(xtr, ytr)
    scores["cls_acc"] = float(np.mean(clf.predict(xva) == yva))
    scores["cls_chance"] = float(np.mean(yva == np.bincount(ytr).argmax()))
    # dense tasks on patches
    ptr = train.read("patch").astype(np.float32).reshape(-1, train.dim)
    pva = val.read("patch").astype(np.float32).reshape(-1, val.dim)
    seg_tr, dep_tr = patch_targets(train)
    seg_va, dep_va = patch_targets(val)
    pick = rng.choice(len(ptr), size=min(max_patches, len(ptr)), replace=False)
    num_classes = int(train.target_attrs("mask")["num_classes"])
    seg = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500)).fit(ptr[pick], seg_tr[pick])
    seg_pred = seg.predict(pva)
    scores["seg_acc"] = float(np.mean(seg_pred == seg_va))
    scores["seg_miou"] = miou(seg_pred, seg_va, num_classes)
    majority = np.bincount(seg_tr).argmax()
    scores["seg_chance_acc"] = float(np.mean(seg_va == majority))
    scores["seg_chance_miou"] = miou(np.full_like(seg_va, majority), seg_va, num_classes)
    ok_tr, ok_va = ~np.isnan(dep_tr[pick]), ~np.isnan(dep_va)
    reg = make_pipeline(StandardScaler(), Ridge(alpha=10.0)).fit(ptr[pick][ok_tr], dep_tr[pick][ok_tr])
    scores["depth_d1"], scores["depth_absrel"] = depth_scores(reg.predict(pva[ok_va]), dep_va[ok_va])
    mean_log = np.full(ok_va.sum(), np.mean(dep_tr[pick][ok_tr]))
    scores["depth_chance_d1"], scores["depth_chance_absrel"] = depth_scores(mean_log, dep_va[ok_va])
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", default="pixels,vit-s16,dinov2-s14")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--train", type=int, default=512)
    parser.add_argument("--val", type=int, default=256)
    parser.add_argument("--max-patches", type=int, default=40000)
    parser.add_argument("--out-dir", type=Path, default=Path("runs/difficulty"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows = []
    for name in args.backbones.split(","):
        stores = {}
        for split, limit in (("train", args.train), ("val", args.val)):
            config = ExtractConfig(
                backbone=name,
                random_init=not name.startswith("pixels"),
                split=split,
                image_size=(args.image_size, args.image_size),
                limit=limit,
                batch_size=32,
            )
            path = args.out_dir / f"{name}-{split}-{args.image_size}.h5"
            stores[split] = FeatureStore(extract(config, path, progress=True))
        stores["train"].check_compatible(stores["val"])
        rows.append((name, probe(stores["train"], stores["val"], args.max_patches, args.seed)))

    chance = rows[0][1]
    print(f"\nsynthetic scenes, {args.image_size}px, train {args.train} / val {args.val}, random-init weights\n")
    print("| features | class. acc | seg. patch acc | seg. patch mIoU | depth δ<1.25 | depth AbsRel |")
    print("|---|---|---|---|---|---|")
    print(
        f"| chance / mean (no features) | {chance['cls_chance']:.3f} | {chance['seg_chance_acc']:.3f} | "
        f"{chance['seg_chance_miou']:.3f} | {chance['depth_chance_d1']:.3f} | {chance['depth_chance_absrel']:.3f} |"
    )
    for name, s in rows:
        label = name if name.startswith("pixels") else f"{name} (random init)"
        print(
            f"| {label} | {s['cls_acc']:.3f} | {s['seg_acc']:.3f} | {s['seg_miou']:.3f} | "
            f"{s['depth_d1']:.3f} | {s['depth_absrel']:.3f} |"
        )
    print("| ceiling | 1.000 | 1.000 | 1.000 | 1.000 | 0.000 |")


if __name__ == "__main__":
    main()
