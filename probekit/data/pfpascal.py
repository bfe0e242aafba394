"""PF-PASCAL (Ham et al., 2017): 1,351 pairs of 20 VOC classes with matched keypoints, in the standard splits.

Images: PF-dataset-PASCAL/JPEGImages/*.jpg (root may be that folder, its parent, or a DHPF/CATs
`PF-PASCAL` folder). Pairs: the CSV files of the standard evaluation, found in this order
(datasets/pfpascal/README.md):
    <split>_pairs_pf_pascal.csv    weakalign / GeoAware-SC (next to JPEGImages, or in root)
    image_pairs/<split>_pairs.csv  NCNet (in root)
    <trn|val|test>_pairs.csv       DHPF / SCOT / CATs (next to JPEGImages)
Columns source_image,target_image,class[,XA,YA,XB,YB][,flip]; class is 1-based over the 20 VOC
classes; XA..YB are ';'-separated x and y coordinates in original pixels. Without XA..YB the keypoints
come from Annotations/<class>/<image>.mat (the points annotated in both images, as DHPF reads them).
Object boxes come from those .mat files when Annotations/ exists, else they are NaN (unknown).
PCK is normalised by max(width, height) of the target image (`pck_reference = "image"`).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from probekit.data.layout import require_root, resolve_under
from probekit.data.pair_images import FIT_MODES, PairImages, register_pair_images, require_images  # noqa: F401
from probekit.data.pairs import PairTable, pad_keypoints
from probekit.errors import DatasetError

NAME = "pfpascal"
README = "datasets/pfpascal/README.md"
SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {"trn": "train"}
CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
_POINTS = ("XA", "YA", "XB", "YB")


def image_folder(root: Path) -> Path:
    """The folder holding JPEGImages/: root, root/PF-dataset-PASCAL or root/PF-PASCAL."""
    for base in (root, root / "PF-dataset-PASCAL", root / "PF-PASCAL"):
        if (base / "JPEGImages").is_dir():
            return base
    raise DatasetError(f"{NAME}: {root / 'PF-dataset-PASCAL' / 'JPEGImages'} is missing; expected layout: {README}")


def pair_csv_candidates(root: Path, base: Path, split: str) -> list[Path]:
    """Where the split's pair list may be, in the order they are tried."""
    dhpf = {"train": "trn"}.get(split, split)
    paths = [
        base / f"{split}_pairs_pf_pascal.csv",
        root / f"{split}_pairs_pf_pascal.csv",
        root / "image_pairs" / f"{split}_pairs.csv",
        base / f"{dhpf}_pairs.csv",
    ]
    return list(dict.fromkeys(paths))


def check_layout(root: Path) -> list[str]:
    """What is missing under root for any split ([] when complete)."""
    root = Path(root)
    if not root.is_dir():
        return [str(root)]
    try:
        base = image_folder(root)
    except DatasetError:
        return ["PF-dataset-PASCAL/JPEGImages"]
    problems = []
    for split in SPLITS:
        candidates = pair_csv_candidates(root, base, split)
        if not any(path.is_file() for path in candidates):
            problems.append(" or ".join(str(path.relative_to(root)) for path in candidates))
    return problems


def _coordinates(text: str, path: Path, line: int, column: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in text.split(";") if v.strip()], dtype=np.float32)
    except ValueError:
        raise DatasetError(f"{NAME}: {path} line {line}: column {column} is not ';'-separated numbers") from None


def _number(text: str) -> int | None:
    """An integer column ('3' or '3.0'), None when it is not one."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return int(value) if value.is_integer() else None


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """kps (K, 2) with NaN rows for points not visible, and bbox (4,) x1, y1, x2, y2 of one annotation file."""
    from scipy.io import loadmat

    if not path.is_file():
        raise DatasetError(f"{NAME}: annotation {path} is missing; unzip all of PF-dataset-PASCAL.zip ({README})")
    mat = loadmat(str(path))
    return np.asarray(mat["kps"], dtype=np.float32).reshape(-1, 2), np.asarray(mat["bbox"], dtype=np.float32).reshape(4)


def read_split(root: Path, split: str) -> tuple[Path, list[str], PairTable]:
    """The image folder, the split's images (sorted file names) and its pair table."""
    base = image_folder(root)
    listing = next((p for p in pair_csv_candidates(root, base, split) if p.is_file()), None)
    if listing is None:
        names = ", ".join(str(p) for p in pair_csv_candidates(root, base, split))
        raise DatasetError(f"{NAME}: no pair list for split {split!r} (looked for {names}); expected layout: {README}")
    with listing.open(newline="") as f:
        rows = list(csv.DictReader(f))
    columns = set(rows[0]) if rows else set()
    missing = [c for c in ("source_image", "target_image", "class") if c not in columns]
    if not rows or missing:
        raise DatasetError(f"{NAME}: {listing} has no pairs or lacks columns {missing}; expected layout: {README}")
    annotations = base / "Annotations"
    from_csv = all(c in columns for c in _POINTS)
    if not from_csv and not annotations.is_dir():
        raise DatasetError(
            f"{NAME}: {listing} has no XA,YA,XB,YB columns and {annotations} is missing; "
            f"unzip the Annotations of PF-dataset-PASCAL.zip ({README})"
        )

    mats_read: dict[Path, tuple[np.ndarray, np.ndarray]] = {}  # an image appears in many pairs

    def mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
        if path not in mats_read:
            mats_read[path] = read_mat(path)
        return mats_read[path]

    ids, categories, src_kps, trg_kps, boxes, pair_images = [], [], [], [], [], []
    for n, row in enumerate(rows):
        line = n + 2  # the header is line 1
        label = _number(row["class"])
        if label is None or label not in range(1, len(CLASSES) + 1):
            raise DatasetError(f"{NAME}: {listing} line {line}: class {row['class']!r} is not 1..{len(CLASSES)}")
        category = CLASSES[label - 1]
        src, trg = Path(row["source_image"]).name, Path(row["target_image"]).name
        for name in (src, trg):  # only the file name is used; '..' alone would still leave JPEGImages
            resolve_under(base / "JPEGImages", name, f"{listing}:{line}")
        mats = (
            [mat(annotations / category / f"{Path(name).stem}.mat") for name in (src, trg)]
            if annotations.is_dir()
            else None
        )
        if from_csv:
            xa, ya, xb, yb = (_coordinates(row[c], listing, line, c) for c in _POINTS)
            if not len(xa) == len(ya) == len(xb) == len(yb) or len(xa) == 0:
                raise DatasetError(
                    f"{NAME}: {listing} line {line}: XA, YA, XB, YB have "
                    f"{len(xa)}, {len(ya)}, {len(xb)}, {len(yb)} values (want equal, > 0)"
                )
            points = np.stack([xa, ya], 1), np.stack([xb, yb], 1)
        else:
            assert mats is not None  # no XA..YB columns: checked above that Annotations/ exists
            (kps_a, _), (kps_b, _) = mats
            both = ~(np.isnan(kps_a).any(1) | np.isnan(kps_b).any(1))
            if len(kps_a) != len(kps_b) or not both.any():
                raise DatasetError(
                    f"{NAME}: {listing} line {line}: {src} and {trg} have {len(kps_a)} and "
                    f"{len(kps_b)} keypoint slots, {int(both.sum())} annotated in both (want equal, > 0)"
                )
            points = kps_a[both], kps_b[both]
        src_kps.append(points[0])
        trg_kps.append(points[1])
        boxes.append((mats[0][1], mats[1][1]) if mats else (np.full(4, np.nan, np.float32),) * 2)
        ids.append(f"{n:04d}-{Path(src).stem}-{Path(trg).stem}:{category}")
        categories.append(category)
        pair_images.append((src, trg))

    images = sorted({name for pair in pair_images for name in pair})
    require_images(base / "JPEGImages", images, f"listed in {listing}", NAME, README)
    position = {name: i for i, name in enumerate(images)}
    attrs: dict[str, Any] = {
        "pair_list": str(listing.relative_to(root)),
        "keypoints": "pair list XA..YB" if from_csv else "Annotations/*.mat, points annotated in both images",
        "bbox": "Annotations/*.mat" if annotations.is_dir() else "unknown (NaN): no Annotations/ folder",
        "coordinates": "original pixels as annotated (x right, y down)",
    }
    if "flip" in columns:  # a training-augmentation flag (NCNet, DHPF); images are stored unflipped
        attrs["pair_annotations"] = {"ids": ids, "flip": [_number(row["flip"]) for row in rows]}
    table = PairTable(
        ids=ids,
        src=np.array([position[s] for s, _ in pair_images], dtype=np.int64),
        trg=np.array([position[t] for _, t in pair_images], dtype=np.int64),
        src_kps=pad_keypoints(src_kps),
        trg_kps=pad_keypoints(trg_kps),
        src_bbox=np.stack([b[0] for b in boxes]).astype(np.float32),
        trg_bbox=np.stack([b[1] for b in boxes]).astype(np.float32),
        categories=categories,
        pck_reference="image",
        attrs=attrs,
    )
    return base, images, table


class PFPascal(PairImages):
    """The images of one PF-PASCAL split, fitted to `image_size` (default: stretched, as the papers do)."""

    name, splits, split_aliases = NAME, SPLITS, SPLIT_ALIASES

    def __init__(self, root: str | Path | None, split: str, image_size: tuple[int, int], fit: str = "stretch"):
        self._set_options(split, image_size, fit)
        self.root = require_root(root, NAME, README)
        self.base, self.images, self.pair_table = read_split(self.root, self.split)
        self.image_dir = self.base / "JPEGImages"


register_pair_images(
    PFPascal,
    readme=README,
    check_layout=check_layout,
    description="PF-PASCAL: 1,351 pairs of 20 VOC classes, keypoint matches (PCK by target image size)",
)
