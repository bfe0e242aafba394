"""One tiny official-layout tree per registered dataset, with the target values the store must hold.

Each `Fixture` writes its tree with the builders of the adapter's own tests (tests/data/test_<name>.py)
and says which split to extract, at which size, which task to probe, and what every stored target must
be, derived from the written files and the adapter's documented crop/resize, not from the adapter.
tests/data/test_end_to_end.py runs `extract` and `probe` on each; a registered name missing here fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.data import (
    test_ade20k,
    test_cityscapes,
    test_imagefolder,
    test_imagenet,
    test_kitti,
    test_nyuv2,
    test_pfpascal,
    test_spair,
    test_voc,
)


@dataclass
class Expected:
    """What the store must hold: targets per sample id (exact, or within `atol` per target) and pairs."""

    targets: dict[str, dict[str, Any]]  # sample id -> target name -> value
    atol: dict[str, float] = field(default_factory=dict)  # target name -> tolerance (default exact)
    pairs: dict[str, Any] | None = None  # PairTable field -> value (correspondence)


@dataclass(frozen=True)
class Fixture:
    """How to build, extract and probe one dataset; `write(root)` returns the Expected store content."""

    write: Callable[[Path], Expected]
    task: str
    split: str
    image_size: tuple[int, int]
    root: str = "."  # the --root, relative to the folder the tree was written in
    needs_root: bool = True
    limit: int | None = None


def _upscaled(mask: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour integer upscaling: what `fit_mask(crop)` does to a same-aspect mask."""
    return mask.repeat(factor, axis=0).repeat(factor, axis=1)


def _ade20k(root: Path) -> Expected:
    _, labels = test_ade20k.write_ade20k(root)
    reduced = {stem: np.where(raw == 0, 255, raw.astype(np.int64) - 1).astype(np.uint8) for stem, raw in labels.items()}
    return Expected({stem: {"mask": _upscaled(mask, 7)} for stem, mask in reduced.items() if "_val_" in stem})


def _cityscapes(root: Path) -> Expected:
    truth = test_cityscapes.write_cityscapes(root)
    train = [stem for _, stem in test_cityscapes.FILES["train"]]
    return Expected({stem: {"mask": _upscaled(truth[stem][1], 7)} for stem in train})


def _voc(root: Path) -> Expected:
    _, labels = test_voc.write_voc(root)
    return Expected({sample: {"mask": _upscaled(labels[sample], 7)} for sample in test_voc.TRAIN})


def _imagefolder(root: Path) -> Expected:
    test_imagefolder.write_folders(root)
    return Expected(
        {"train/cat/a.png": {"label": 0}, "train/cat/sub/b.PNG": {"label": 0}, "train/dog/c.png": {"label": 1}}
    )


def _csv(root: Path) -> Expected:
    test_imagefolder.write_folders(root)
    (root / "train.csv").write_text("path,label\ntrain/cat/a.png,cat\ntrain/dog/c.png,dog\ntrain/cat/sub/b.PNG,cat\n")
    return Expected(
        {"train/cat/a.png": {"label": 0}, "train/dog/c.png": {"label": 1}, "train/cat/sub/b.PNG": {"label": 0}}
    )


def _imagenet(root: Path) -> Expected:
    """The devkit variant (ground truth ids through meta.mat); the LOC csv and sorted val/ are in test_imagenet."""
    labels = test_imagenet.write_imagenet(root, "devkit")
    return Expected({name: {"label": label} for name, label in labels.items() if name.startswith("val/")})


# raw NYU label -> (NYU-40 id, NYU-13 id), by name: 0 unlabeled, 21 wall, 11 floor, 157 bed, 4 ceiling
NYU_CLASSES = {0: (255, 255), 21: (0, 11), 11: (1, 4), 157: (3, 0), 4: (21, 2)}


def _nyuv2(root: Path, raw: bool = False, classes: int = 40) -> Expected:
    """The labeled .mat with a `labels` array of raw NYU classes (stored transposed, as MATLAB does)."""
    import h5py

    _, depth, raw_depth = test_nyuv2.write_nyuv2(root)
    n, h, w = depth.shape
    labels = np.random.default_rng(0).choice(list(NYU_CLASSES), size=(n, h, w)).astype(np.uint16)
    with h5py.File(root / "nyu_depth_v2_labeled.mat", "a") as f:
        f["labels"] = labels.transpose(0, 2, 1)  # (N, W, H)
    column = 0 if classes == 40 else 1
    mapped = np.vectorize(lambda v: NYU_CLASSES[int(v)][column])(labels).astype(np.uint8)
    source = raw_depth if raw else depth
    return Expected({f"nyuv2-{i:04d}": {"depth": source[i - 1], "mask": mapped[i - 1]} for i in test_nyuv2.TRAIN})


def _nyuv2_sync(root: Path) -> Expected:
    pairs = test_nyuv2.write_sync(root)
    train = ("kitchen_0028b/rgb_00045", "bedroom_0060/rgb_00081")
    return Expected(
        {sample: {"depth": pairs[sample][1].astype(np.float64) / 1000.0} for sample in train}, atol={"depth": 1e-3}
    )


def _kitti(root: Path) -> Expected:
    frames = test_kitti.write_kitti(root)
    expected = {}
    for sample, (_, value) in frames.items():
        height, width = value.shape
        top, left = height - 352, (width - 1216) // 2  # the KB crop: the 352x1216 image is the whole window
        expected[sample] = {"depth": value[top:, left : left + 1216].astype(np.float64) / 256.0}
    return Expected(expected, atol={"depth": 1e-3})


def _spair(root: Path) -> Expected:
    test_spair.make_spair(root)
    images = sorted({f"{cat}/{name}" for cat, name in test_spair.IMAGES})
    annotations = test_spair.PAIRS["test"]
    order = test_spair.LAYOUT_TEST
    return Expected(
        {image: {"original_size": np.array(test_spair.IMAGES[tuple(image.split("/"))][::-1])} for image in images},
        pairs={
            "ids": order,
            "src_bbox": [annotations[p]["src_bndbox"] for p in order],
            "trg_bbox": [annotations[p]["trg_bndbox"] for p in order],
            "src_kps": [annotations[p]["src_kps"] for p in order],
            "trg_kps": [annotations[p]["trg_kps"] for p in order],
            "src": [images.index(_spair_image(p, 1)) for p in order],
            "trg": [images.index(_spair_image(p, 2)) for p in order],
        },
    )


def _spair_image(pair: str, side: int) -> str:
    """'000001-2008_000585-2008_002221:aeroplane' -> 'aeroplane/2008_000585' (side 1) or '.../2008_002221'."""
    names, category = pair.split(":")
    return f"{category}/{names.split('-')[side]}"


def _pfpascal(root: Path) -> Expected:
    base = root / "PF-dataset-PASCAL"
    test_pfpascal.write_images(base / "JPEGImages")
    test_pfpascal.write_annotations(base / "Annotations")
    test_pfpascal.write_test_csv(base / "test_pairs_pf_pascal.csv")
    images = sorted(test_pfpascal.IMAGES)
    pairs = test_pfpascal.TEST_PAIRS
    return Expected(
        {name: {"original_size": np.array(test_pfpascal.IMAGES[name][0][::-1])} for name in images},
        pairs={
            "src": [images.index(s) for s, _, _, _ in pairs],
            "trg": [images.index(t) for _, t, _, _ in pairs],
            "src_kps": [a for _, _, a, _ in pairs],
            "trg_kps": [b for _, _, _, b in pairs],
        },
    )


def _synthetic(root: Path) -> Expected:
    from probekit.data.synthetic_adapter import SyntheticDataset

    dataset = SyntheticDataset("train", (28, 28))
    return Expected({dataset[i]["id"]: {k: dataset[i][k] for k in ("label", "mask", "depth")} for i in range(4)})


def _synthetic_pairs(root: Path) -> Expected:
    from probekit.data.synthetic_pairs import SyntheticPairs

    dataset = SyntheticPairs("test", (28, 28), num_pairs=2)
    table = dataset.pair_table_among(np.arange(4))  # the first 4 images: the first 2 pairs
    return Expected(
        {dataset[i]["id"]: {} for i in range(4)},
        pairs={
            "ids": list(table.ids),
            "src": table.src,
            "trg": table.trg,
            "src_kps": table.src_kps,
            "trg_kps": table.trg_kps,
        },
    )


def _synthetic_multiview(root: Path) -> Expected:
    from probekit.data.synthetic_pairs import MULTIVIEW_STRATA, MULTIVIEW_YAW_DEG, SyntheticPairs

    dataset = SyntheticPairs(
        "test", (28, 28), num_pairs=2, yaw_deg=MULTIVIEW_YAW_DEG, strata=MULTIVIEW_STRATA, name="synthetic-multiview"
    )
    table = dataset.pair_table_among(np.arange(4))
    return Expected(
        {dataset[i]["id"]: {} for i in range(4)},
        pairs={"ids": list(table.ids), "trg_kps": table.trg_kps, "rotation_deg": table.rotation_deg},
    )


def _posed_scenes(root: Path) -> Expected:
    from probekit.data.poses import relative_rotation_deg
    from tests.data.test_posed_scenes import SIZE, write_posed_scenes

    rendered = write_posed_scenes(root)
    images = [f"scene{s:04d}_00/color/{f}" for s in range(len(rendered)) for f in (0, 1)]
    cameras = [(p.view_a.camera.cam_to_world, p.view_b.camera.cam_to_world) for p in rendered]
    return Expected(
        {name: {"original_size": np.array(SIZE)} for name in images},
        atol={"rotation_deg": 1e-4},
        pairs={
            "ids": [f"scene{s:04d}_00/0-1" for s in range(len(rendered))],
            "src": [0, 2],
            "trg": [1, 3],
            "rotation_deg": [relative_rotation_deg(*c) for c in cameras],
        },
    )


FIXTURES: dict[str, Fixture] = {
    "ade20k": Fixture(_ade20k, "segmentation", "val", (56, 84), root="ADEChallengeData2016"),
    "cityscapes": Fixture(_cityscapes, "segmentation", "train", (56, 112)),
    "voc": Fixture(_voc, "segmentation", "train", (70, 98)),
    "imagefolder": Fixture(_imagefolder, "classification", "train", (28, 28)),
    "imagefolder-crop0.875": Fixture(_imagefolder, "classification", "train", (28, 28)),
    "imagenet": Fixture(_imagenet, "classification", "val", (28, 28)),
    "csv": Fixture(_csv, "classification", "train", (28, 28)),
    "csv-crop0.875": Fixture(_csv, "classification", "train", (28, 28)),
    "nyuv2": Fixture(_nyuv2, "segmentation", "train", (42, 56)),
    "nyuv2-13": Fixture(lambda root: _nyuv2(root, classes=13), "segmentation", "train", (42, 56)),
    "nyuv2-raw": Fixture(lambda root: _nyuv2(root, raw=True), "depth", "train", (42, 56)),
    "nyuv2-sync": Fixture(_nyuv2_sync, "depth", "train", (42, 56)),
    "kitti": Fixture(_kitti, "depth", "test", (154, 532)),
    "spair": Fixture(_spair, "correspondence", "test", (28, 28)),
    "pfpascal": Fixture(_pfpascal, "correspondence", "test", (28, 28)),
    "synthetic": Fixture(_synthetic, "segmentation", "train", (28, 28), needs_root=False, limit=4),
    "synthetic-pairs": Fixture(_synthetic_pairs, "correspondence", "test", (28, 28), needs_root=False, limit=4),
    "synthetic-multiview": Fixture(_synthetic_multiview, "multiview", "test", (28, 28), needs_root=False, limit=4),
    "posed-scenes": Fixture(_posed_scenes, "multiview", "test", (42, 56)),
}
