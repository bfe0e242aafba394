"""SPair-71k (Min et al., 2019): image pairs of 18 categories with matched keypoints, read from its own tree.

Layout (datasets/spair/README.md): JPEGImages/<category>/<image>.jpg and one JSON per pair in
PairAnnotation/<split>/<id>-<src>-<trg>:<category>.json. The split's pairs are the names listed in the
official Layout/large/<split>.txt when it exists, else every JSON file of PairAnnotation/<split>/ in
name order. Each image the pairs use is yielded once (sorted by category/name) and `pair_table` indexes them.
PCK is normalised by the target object's box (`pck_reference = "bbox"`), as the benchmark defines it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from probekit.data.layout import missing_paths, read_list_text, require_paths, require_root, resolve_under
from probekit.data.pair_images import FIT_MODES, PairImages, register_pair_images, require_images  # noqa: F401
from probekit.data.pairs import PairTable, pad_keypoints
from probekit.errors import DatasetError

NAME = "spair"
README = "datasets/spair/README.md"
SPLITS = ("trn", "val", "test")
SPLIT_ALIASES = {"train": "trn"}
_REQUIRED = (
    "src_imname",
    "trg_imname",
    "src_imsize",
    "trg_imsize",
    "src_kps",
    "trg_kps",
    "src_bndbox",
    "trg_bndbox",
    "category",
)
DIFFICULTY = ("viewpoint_variation", "scale_variation", "truncation", "occlusion", "mirror")


def resolve_root(root: str | Path | None) -> Path:
    """`root` itself, or root/SPair-71k when root is the folder the archive was unpacked into."""
    path = require_root(root, NAME, README)
    inner = path / "SPair-71k"
    return inner if not (path / "PairAnnotation").exists() and (inner / "PairAnnotation").is_dir() else path


def check_layout(root: Path) -> list[str]:
    """The entries of the official tree missing under root ([] when complete); Layout/ is optional."""
    if not Path(root).is_dir():
        return [str(root)]
    root = resolve_root(root)
    return missing_paths(root, ["JPEGImages", *(f"PairAnnotation/{split}" for split in SPLITS)])


def pair_names(root: Path, split: str) -> tuple[list[str], str]:
    """The split's pair names and where they were listed (the official Layout file, else the JSON folder)."""
    listing = root / "Layout" / "large" / f"{split}.txt"
    if listing.is_file():
        names = [line.strip().removesuffix(".json") for line in read_list_text(listing).splitlines()]
        for number, name in enumerate(names, start=1):  # each names a JSON file in PairAnnotation/<split>/
            if name:
                resolve_under(root / "PairAnnotation" / split, f"{name}.json", f"{listing}:{number}")
        names = [name for name in names if name]
        source = f"Layout/large/{split}.txt"
    else:
        names = sorted(p.stem for p in (root / "PairAnnotation" / split).glob("*.json"))
        source = f"PairAnnotation/{split}/*.json"
    if not names:
        raise DatasetError(f"{NAME}: {root / source} lists no pairs; expected layout: {README}")
    return names, source


def read_pair(path: Path) -> dict[str, Any]:
    """One pair annotation, with every field the adapter needs present."""
    if not path.is_file():
        raise DatasetError(f"{NAME}: pair annotation {path} is missing; expected layout: {README}")
    try:
        annotation: dict[str, Any] = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{NAME}: {path} is not valid JSON ({error}); re-download the annotations") from None
    missing = [key for key in _REQUIRED if key not in annotation]
    if missing:
        raise DatasetError(f"{NAME}: {path} has no {', '.join(missing)}; re-download the annotations")
    return annotation


def _points(values: list[Any], path: Path, field: str) -> np.ndarray:
    """[[x, y], ...] (null for an unannotated point) -> (K, 2) float32."""
    try:
        points = [[np.nan, np.nan] if p is None else p for p in values]
        return np.asarray(points, dtype=np.float32).reshape(-1, 2)
    except (TypeError, ValueError):
        raise DatasetError(
            f"{NAME}: {path} field {field} is not a list of [x, y]; re-download the annotations"
        ) from None


def read_split(root: Path, split: str) -> tuple[list[str], list[tuple[int, int]], PairTable]:
    """Image paths (relative to JPEGImages, sorted), their (h, w) and the pair table of `split`."""
    names, source = pair_names(root, split)
    annotations = [read_pair(root / "PairAnnotation" / split / f"{name}.json") for name in names]
    sizes: dict[str, tuple[int, int]] = {}
    for name, ann in zip(names, annotations, strict=True):
        for side in ("src", "trg"):
            image = f"{ann['category']}/{ann[f'{side}_imname']}"
            resolve_under(root / "JPEGImages", image, f"{root / 'PairAnnotation' / split / name}.json")
            w, h = (int(v) for v in ann[f"{side}_imsize"][:2])  # [w, h, c]
            if sizes.setdefault(image, (h, w)) != (h, w):
                raise DatasetError(
                    f"{NAME}: pair {name} gives {image} the size {w}x{h}, another pair "
                    f"{sizes[image][1]}x{sizes[image][0]}; re-download the annotations"
                )
    images = sorted(sizes)
    require_images(root / "JPEGImages", images, f"used by the {split} pairs", NAME, README)
    position = {image: n for n, image in enumerate(images)}
    src_kps, trg_kps = [], []
    for name, ann in zip(names, annotations, strict=True):
        path = root / "PairAnnotation" / split / f"{name}.json"
        src, trg = _points(ann["src_kps"], path, "src_kps"), _points(ann["trg_kps"], path, "trg_kps")
        if len(src) != len(trg) or len(src) == 0:
            raise DatasetError(
                f"{NAME}: {path} has {len(src)} source and {len(trg)} target keypoints; re-download the annotations"
            )
        if any(np.size(ann[f"{side}_bndbox"]) != 4 for side in ("src", "trg")):
            raise DatasetError(f"{NAME}: {path} has a box that is not [x1, y1, x2, y2]; re-download the annotations")
        src_kps.append(src)
        trg_kps.append(trg)

    def index(side: str) -> np.ndarray:
        """(P,) int64 position of each pair's `side` image among `images`."""
        return np.array([position[f"{a['category']}/{a[f'{side}_imname']}"] for a in annotations], dtype=np.int64)

    def box(side: str) -> np.ndarray:
        """(P, 4) float32 [x1, y1, x2, y2] box of each pair's `side` image."""
        return np.array([a[f"{side}_bndbox"] for a in annotations], dtype=np.float32).reshape(-1, 4)

    per_pair = {"ids": names, "kps_ids": [a.get("kps_ids") for a in annotations]}
    per_pair.update({key: [a.get(key) for a in annotations] for key in DIFFICULTY})
    table = PairTable(
        ids=names,
        src=index("src"),
        trg=index("trg"),
        src_kps=pad_keypoints(src_kps),
        trg_kps=pad_keypoints(trg_kps),
        src_bbox=box("src"),
        trg_bbox=box("trg"),
        categories=[a["category"] for a in annotations],
        pck_reference="bbox",
        attrs={
            "pair_list": source,
            "coordinates": "original pixels as annotated (x right, y down)",
            # per-pair annotations keyed by their own `ids`, so they stay valid when pairs are subset
            "pair_annotations": per_pair,
        },
    )
    return images, [sizes[image] for image in images], table


class SPair71k(PairImages):
    """The images of one SPair-71k split, fitted to `image_size` (default: stretched, as the papers do)."""

    name, splits, split_aliases = NAME, SPLITS, SPLIT_ALIASES

    def __init__(self, root: str | Path | None, split: str, image_size: tuple[int, int], fit: str = "stretch"):
        self._set_options(split, image_size, fit)
        self.root = resolve_root(root)
        require_paths(self.root, ["JPEGImages", f"PairAnnotation/{self.split}"], NAME, README)
        self.image_dir = self.root / "JPEGImages"
        self.images, self.original_sizes, self.pair_table = read_split(self.root, self.split)

    def read_image(self, index: int) -> np.ndarray:
        """The image, checked against the size its pairs give."""
        image = super().read_image(index)
        if image.shape[:2] != self.original_sizes[index]:
            h, w = self.original_sizes[index]
            raise DatasetError(
                f"{NAME}: {self.image_dir / self.images[index]} is {image.shape[1]}x{image.shape[0]} "
                f"but its pairs say {w}x{h}; re-download the images"
            )
        return image

    def fingerprint_contents(self) -> tuple[Any, ...]:
        return self.images, self.original_sizes, self.pair_table.digest()


register_pair_images(
    SPair71k,
    readme=README,
    check_layout=check_layout,
    description="SPair-71k: 70,958 pairs, 18 categories, keypoint matches (PCK by target bbox)",
)
