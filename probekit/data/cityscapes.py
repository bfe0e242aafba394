"""Cityscapes fine annotations: 19 evaluation classes (trainIds), 255 = ignored.

Layout (datasets/cityscapes/README.md): `leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png` and
`gtFine/<split>/<city>/<stem>_gtFine_labelTrainIds.png`, the files cityscapesScripts'
`createTrainIdLabelImgs` writes. Where a labelTrainIds file is absent, the `<stem>_gtFine_labelIds.png`
of the release is read and mapped to trainIds with the official table below (cityscapesScripts
`helpers/labels.py`); the store records which files were read (`label_sources`).
"""

from __future__ import annotations

from pathlib import Path

from probekit.data.label_maps import IGNORE_INDEX, LabelledImage, LabelMapDataset, LabelTable
from probekit.data.layout import missing_paths, raise_missing, require_root
from probekit.data.registry import DatasetEntry, register_dataset

README = "datasets/cityscapes/README.md"
SPLITS = ("train", "val")  # the test split's public annotations are empty
IMAGE_SUFFIX = "_leftImg8bit.png"
TRAIN_IDS_SUFFIX = "_gtFine_labelTrainIds.png"
LABEL_IDS_SUFFIX = "_gtFine_labelIds.png"

# cityscapesScripts helpers/labels.py: (name, id, trainId); trainId 255 = ignored in evaluation.
# 'license plate' (id -1, trainId -1) is not stored in labelIds PNGs.
LABELS = (
    ("unlabeled", 0, 255),
    ("ego vehicle", 1, 255),
    ("rectification border", 2, 255),
    ("out of roi", 3, 255),
    ("static", 4, 255),
    ("dynamic", 5, 255),
    ("ground", 6, 255),
    ("road", 7, 0),
    ("sidewalk", 8, 1),
    ("parking", 9, 255),
    ("rail track", 10, 255),
    ("building", 11, 2),
    ("wall", 12, 3),
    ("fence", 13, 4),
    ("guard rail", 14, 255),
    ("bridge", 15, 255),
    ("tunnel", 16, 255),
    ("pole", 17, 5),
    ("polegroup", 18, 255),
    ("traffic light", 19, 6),
    ("traffic sign", 20, 7),
    ("vegetation", 21, 8),
    ("terrain", 22, 9),
    ("sky", 23, 10),
    ("person", 24, 11),
    ("rider", 25, 12),
    ("car", 26, 13),
    ("truck", 27, 14),
    ("bus", 28, 15),
    ("caravan", 29, 255),
    ("trailer", 30, 255),
    ("train", 31, 16),
    ("motorcycle", 32, 17),
    ("bicycle", 33, 18),
)
CLASS_NAMES = tuple(name for name, _, train_id in sorted(LABELS, key=lambda row: row[2]) if train_id != 255)
TABLES = {
    "trainIds": LabelTable.identity(len(CLASS_NAMES), "gtFine labelTrainIds"),
    "labelIds": LabelTable.from_mapping(
        {label_id: train_id for _, label_id, train_id in LABELS},
        "gtFine labelIds mapped to trainIds (cityscapesScripts labels.py)",
        "0..33",
    ),
}
MASK_ATTRS = {
    "num_classes": len(CLASS_NAMES),
    "class_names": list(CLASS_NAMES),
    "ignore_index": IGNORE_INDEX,
    "label_convention": "Cityscapes trainIds 0..18; 255 = ignored (void and non-evaluated classes)",
}


def scan(root: Path, split: str) -> tuple[list[LabelledImage], list[str]]:
    """The split's samples (cities, then files, in name order), and the paths (relative to root) missing."""
    missing = missing_paths(root, [f"leftImg8bit/{split}", f"gtFine/{split}"])
    if missing:
        return [], missing
    items = []
    for city in sorted(p for p in (root / "leftImg8bit" / split).iterdir() if p.is_dir()):
        labels = root / "gtFine" / split / city.name
        present = {p.name for p in labels.iterdir()} if labels.is_dir() else set()
        for image in sorted(city.glob(f"*{IMAGE_SUFFIX}")):
            stem = image.name[: -len(IMAGE_SUFFIX)]
            if stem + TRAIN_IDS_SUFFIX in present:
                items.append(LabelledImage(stem, image, labels / (stem + TRAIN_IDS_SUFFIX), "trainIds"))
            elif stem + LABEL_IDS_SUFFIX in present:
                items.append(LabelledImage(stem, image, labels / (stem + LABEL_IDS_SUFFIX), "labelIds"))
            else:
                missing.append(f"gtFine/{split}/{city.name}/{stem}{TRAIN_IDS_SUFFIX}")
    if not items and not missing:
        missing.append(f"leftImg8bit/{split}/<city>/*{IMAGE_SUFFIX}")
    return items, missing


def check_layout(root: Path) -> list[str]:
    """Missing paths over train and val; [] when complete."""
    return [path for split in SPLITS for path in scan(Path(root), split)[1]]


class Cityscapes(LabelMapDataset):
    """One split of Cityscapes gtFine; masks hold trainIds 0..18 and 255."""

    def __init__(self, split: str, root: str | Path | None, image_size: tuple[int, int], fit: str | None = None):
        path = require_root(root, "cityscapes", README)
        items, missing = scan(path, split)
        raise_missing(path, missing, "cityscapes", README)
        super().__init__("cityscapes", split, path, items, image_size, TABLES, MASK_ATTRS, fit)


register_dataset(
    "cityscapes",
    DatasetEntry(
        factory=Cityscapes,
        description="Cityscapes gtFine: 19 classes (trainIds), 255 ignored; 2048x1024 street scenes",
        tasks=("segmentation",),
        splits=SPLITS,
        readme=README,
        check_layout=check_layout,
    ),
)
