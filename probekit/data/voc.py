"""Pascal VOC 2012 segmentation: 21 classes (background included), 255 = the ignored object boundaries.

Layout (datasets/voc/README.md): `--root` is `VOCdevkit/VOC2012`, `VOCdevkit`, or the folder holding
`VOCdevkit` (the first that has `JPEGImages`). Splits follow `ImageSets/Segmentation/{train,val}.txt`;
`SegmentationClass/*.png` are palette PNGs whose indices are the classes.

`train_aug` is the augmented set (SBD, Hariharan et al.) as mmsegmentation's `voc12aug` builds it:
the ids of train.txt with their SegmentationClass labels, plus those of `aug.txt` with greyscale
`SegmentationClassAug/*.png` (mmseg's tools/dataset_converters/voc_aug.py writes both). DeepLab-style
copies with only `trainaug.txt` or `train_aug.txt` (10582 ids) work too: ids in train.txt still take their
SegmentationClass label, the rest their SegmentationClassAug label. Any overlap with val.txt is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from probekit.data.label_maps import LabelledImage, LabelMapDataset, LabelTable
from probekit.data.layout import missing_paths, raise_missing, read_list_text, require_root, resolve_under
from probekit.data.registry import DatasetEntry, register_dataset
from probekit.errors import DatasetError

README = "datasets/voc/README.md"
SPLITS = ("train", "val", "train_aug")
LISTS = "ImageSets/Segmentation"
AUG_LISTS = ("aug.txt", "trainaug.txt", "train_aug.txt")  # mmseg (+ train.txt), mmseg full list, DeepLab
CLASS_NAMES = (
    "background",
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
TABLE = LabelTable.identity(len(CLASS_NAMES), "VOC indices 0..20, 255 = boundary (ignored)")
MASK_ATTRS = {
    "num_classes": len(CLASS_NAMES),
    "class_names": list(CLASS_NAMES),
    "ignore_index": 255,
    "label_convention": "VOC class indices; 255 = object boundary / difficult, ignored",
}


def resolve_root(root: Path) -> Path:
    """The VOC2012 folder: root, root/VOC2012 or root/VOCdevkit/VOC2012, whichever has JPEGImages."""
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "JPEGImages").is_dir():
            return candidate
    return root


def has_aug(root: Path) -> bool:
    """Whether any part of the augmented set is present (then it must be complete)."""
    return (root / "SegmentationClassAug").exists() or any((root / LISTS / name).exists() for name in AUG_LISTS)


def aug_list(root: Path) -> str | None:
    """The train_aug list present under ImageSets/Segmentation, in the order of AUG_LISTS (None if none)."""
    return next((name for name in AUG_LISTS if (root / LISTS / name).is_file()), None)


def _read_ids(path: Path) -> list[str]:
    """The first field of each line of root/ImageSets/Segmentation/<list>; an id must stay in JPEGImages."""
    images = path.parents[2] / "JPEGImages"
    ids = []
    for number, line in enumerate(read_list_text(path).splitlines(), start=1):
        if line.strip():
            ids.append(line.split()[0])
            resolve_under(images, f"{ids[-1]}.jpg", f"{path}:{number}")  # '../../x' is refused, not looked up
    return ids


def split_ids(root: Path, split: str) -> tuple[list[tuple[str, str]], list[str]]:
    """[(id, label folder)] of the split in list order, and the missing lists/folders (relative to root)."""
    if split != "train_aug":
        missing = missing_paths(root, ["JPEGImages", "SegmentationClass", f"{LISTS}/{split}.txt"])
        if missing:
            return [], missing
        return [(i, "SegmentationClass") for i in _read_ids(root / LISTS / f"{split}.txt")], []
    missing = missing_paths(root, ["JPEGImages", "SegmentationClass", "SegmentationClassAug", f"{LISTS}/train.txt"])
    listed = aug_list(root)
    if listed is None:
        missing.append(f"{LISTS}/aug.txt")
    if missing or listed is None:  # no list implies something missing
        return [], missing
    train = _read_ids(root / LISTS / "train.txt")
    ids = train + _read_ids(root / LISTS / "aug.txt") if listed == "aug.txt" else _read_ids(root / LISTS / listed)
    in_train = set(train)
    ids = list(dict.fromkeys(ids))  # unique, in list order
    return [(i, "SegmentationClass" if i in in_train else "SegmentationClassAug") for i in ids], []


def scan(root: Path, split: str) -> tuple[list[LabelledImage], list[str]]:
    """The split's samples, and the files (relative to root) that are missing."""
    ids, missing = split_ids(root, split)
    if missing:
        return [], missing
    present = {
        folder: {p.name for p in (root / folder).iterdir()}
        for folder in ("JPEGImages", "SegmentationClass", "SegmentationClassAug")
        if (root / folder).is_dir()
    }
    items = []
    for sample, folder in ids:
        absent = ([] if f"{sample}.jpg" in present["JPEGImages"] else [f"JPEGImages/{sample}.jpg"]) + (
            [] if f"{sample}.png" in present[folder] else [f"{folder}/{sample}.png"]
        )
        missing += absent
        if not absent:
            items.append(LabelledImage(sample, root / "JPEGImages" / f"{sample}.jpg", root / folder / f"{sample}.png"))
    return items, missing


def val_overlap(root: Path, items: list[LabelledImage]) -> list[str]:
    """Ids of `items` that are also in val.txt (a train_aug list that would leak the evaluation images)."""
    val_list = root / LISTS / "val.txt"
    val = set(_read_ids(val_list)) if val_list.is_file() else set()
    return [item.id for item in items if item.id in val]


def check_layout(root: Path) -> list[str]:
    """Problems over train and val (and train_aug when any of it is present); [] when complete."""
    root = resolve_root(Path(root))
    problems: list[str] = []
    for split in SPLITS if has_aug(root) else SPLITS[:2]:
        items, missing = scan(root, split)
        problems += missing or ([] if items else [f"{LISTS}/{split} list is empty"])
        leaked = val_overlap(root, items) if split == "train_aug" else []
        if leaked:
            problems.append(f"train_aug list shares {len(leaked)} ids with val.txt (e.g. {leaked[0]})")
    return list(dict.fromkeys(problems))  # each missing folder once


class VOC(LabelMapDataset):
    """One split of VOC 2012 segmentation (train, val, or the SBD-augmented train_aug)."""

    def __init__(self, split: str, root: str | Path | None, image_size: tuple[int, int], fit: str | None = None):
        path = resolve_root(require_root(root, "voc", README))
        items, missing = scan(path, split)
        raise_missing(path, missing, "voc", README)
        leaked = val_overlap(path, items) if split == "train_aug" else []
        if leaked:
            raise DatasetError(
                f"voc: the train_aug list under {path / LISTS} shares {len(leaked)} ids with "
                f"val.txt (e.g. {leaked[0]}); rebuild it without val (see {README})"
            )
        super().__init__("voc", split, path, items, image_size, {"default": TABLE}, MASK_ATTRS, fit)
        self.id_list = (
            f"{LISTS}/{split}.txt"
            if split != "train_aug"
            else (
                f"{LISTS}/train.txt + {LISTS}/aug.txt" if aug_list(path) == "aug.txt" else f"{LISTS}/{aug_list(path)}"
            )
        )

    def describe(self) -> dict[str, Any]:
        return dict(super().describe(), id_list=self.id_list)


register_dataset(
    "voc",
    DatasetEntry(
        factory=VOC,
        description="Pascal VOC 2012 segmentation: 21 classes, 255 boundary ignored; train_aug = + SBD",
        tasks=("segmentation",),
        splits=SPLITS,
        readme=README,
        check_layout=check_layout,
    ),
)
