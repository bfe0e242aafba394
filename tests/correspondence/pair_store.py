"""Tiny correspondence stores whose answers are known: oracle features (matched cells share a code) or noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from probekit.data.base import TargetSpec
from probekit.data.pairs import PairTable, pad_keypoints
from probekit.features.store import StoreLayout, StoreWriter

GRID, PATCH = 4, 8  # 4 x 4 cells of 8 px: 32 x 32 stored images
SCALE = 0.5  # targets are 64 x 64 originals (stored = original * 0.5); sources identity


def write_pair_store(
    path: Path,
    num_pairs: int,
    kind: str = "oracle",
    seed: int = 0,
    noise: float = 3.0,
    rotation_deg: np.ndarray | None = None,
) -> Path:
    """Pairs (2p, 2p+1) with 3-5 keypoints at cell centres (NaN-padded to 5), categories 'a'/'b'; `rotation_deg`
    (num_pairs,) the pairs' rotation angles (None: a table without them, as stores of pairs without poses).

    kind 'oracle': 16 code dims, each keypoint's source and target cell share one-hot code k, every other
    cell a code of its own; 'noisy': the oracle codes plus 16 dims of per-cell N(0, noise²);
    'random': N(0, 1) features.
    """
    rng = np.random.default_rng(seed)
    N, D = 2 * num_pairs, 32
    patch = np.zeros((N, GRID, GRID, D), dtype=np.float32)
    src_kps, trg_kps = [], []
    for p in range(num_pairs):
        k = int(rng.integers(3, 6))
        src_cells, trg_cells = rng.choice(16, k, replace=False), rng.choice(16, k, replace=False)
        for image, cells in ((2 * p, src_cells), (2 * p + 1, trg_cells)):
            codes = np.eye(D, dtype=np.float32)[np.arange(16)]  # 16 distinct codes
            order = np.concatenate([cells, np.setdiff1d(np.arange(16), cells)])
            flat = np.zeros((16, D), dtype=np.float32)
            flat[cells] = codes[:k]  # keypoint j -> code j in both images
            flat[order[k:]] = codes[k:] if image % 2 else np.roll(codes[k:], 1, axis=0)  # unmatched cells differ
            patch[image] = flat.reshape(GRID, GRID, D)
        centre = lambda cells: np.stack([cells % GRID, cells // GRID], 1) * PATCH + PATCH / 2  # noqa: E731
        src_kps.append(centre(src_cells))
        trg_kps.append(centre(trg_cells) / SCALE)  # original target pixels
    if kind == "noisy":
        patch[..., 16:] = rng.normal(scale=noise, size=(N, GRID, GRID, 16))
    elif kind == "random":
        patch = rng.normal(size=patch.shape).astype(np.float32)
    full = np.array([[0, 0, 64, 64]] * num_pairs, dtype=np.float32)
    table = PairTable(
        ids=[f"pair{p}" for p in range(num_pairs)],
        src=np.arange(0, N, 2),
        trg=np.arange(1, N, 2),
        src_kps=pad_keypoints(src_kps),
        trg_kps=pad_keypoints(trg_kps),
        src_bbox=full.copy(),
        trg_bbox=full * 0.5,
        categories=["ab"[p % 2] for p in range(num_pairs)],
        pck_reference="image",
        rotation_deg=None if rotation_deg is None else np.asarray(rotation_deg, dtype=np.float32),
    )
    pixel_maps = np.array([[1, 1, 0, 0] if i % 2 == 0 else [SCALE, SCALE, 0, 0] for i in range(N)], np.float32)
    attrs = {
        "backbone": "fake",
        "backbone_model": "fake",
        "weights_sha256": "none",
        "weights_source": "none",
        "global_source": "cls",
        "patch_size": PATCH,
        "embed_dim": D,
        "depth": 12,
        "num_registers": 0,
        "image_size": [GRID * PATCH] * 2,
        "grid": [GRID, GRID],
        "layers": [11],
        "norm": True,
        "dtype": "float32",
        "pixel_mean": [0.5] * 3,
        "pixel_std": [0.5] * 3,
        "interpolation": "bicubic",
        "pos_embed_resample": "none",
        "dataset": "fake-pairs",
        "split": path.stem,
        "root": "",
        "dataset_fingerprint": path.stem,
        "num_samples": N,
    }
    layout = StoreLayout(N, [11], (GRID, GRID), D, "float32", {"pixel_map": TargetSpec((4,), "float32")}, pairs=table)
    with StoreWriter(path, layout, attrs, resume_key=path.stem) as writer:
        mean = patch.mean(axis=(1, 2))
        writer.write(
            0, [f"s{i}" for i in range(N)], {11: {"cls": mean, "mean": mean, "patch": patch}}, {"pixel_map": pixel_maps}
        )
        writer.finish({})
    return path
