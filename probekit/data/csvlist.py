"""Classification lists: `root/<split>.csv` with rows `path,label` (paths relative to root).

The header row `path,label` is optional. Labels are all integers (used as they are) or all class
names (numbered in sorted order). Class names and the number of classes come from `train.csv` when it
exists, so every split agrees on the labels. Images are fitted as in `imagefolder`.
"""

from __future__ import annotations

import csv
from pathlib import Path

from probekit.data.imagefolder import LabelledImages, register_crop_variants
from probekit.data.layout import require_files, require_root
from probekit.errors import DatasetError

README = "datasets/imagefolder/README.md"
HEADER = ("path", "label")


def read_rows(path: Path) -> list[tuple[int, str, str]]:
    """(line number, path, label) of every data row; a first row `path,label` is a header."""
    rows = []
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise DatasetError(f"{path}:{number}: expected 2 columns 'path,label', got {len(row)}")
            cells = (row[0].strip(), row[1].strip())
            if number == 1 and tuple(c.lower() for c in cells) == HEADER:
                continue
            rows.append((number, *cells))
    return rows


def _is_int(text: str) -> bool:
    return text.removeprefix("-").isdecimal()  # isdigit() accepts '²', lstrip('-') accepts '--3': int() rejects both


def label_scheme(path: Path, rows: list[tuple[int, str, str]]) -> tuple[list[str], bool]:
    """(class names, numeric): '0'..'K-1' for integer labels (K = max + 1), else the sorted distinct names."""
    if not rows:
        raise DatasetError(f"{path}: no data rows; list the split's images as 'path,label' rows")
    numeric = [_is_int(label) for _, _, label in rows]
    if any(numeric) and not all(numeric):
        number, _, label = rows[numeric.index(not numeric[0])]
        raise DatasetError(f"{path}:{number}: label {label!r} mixes integer and class-name labels; use one kind")
    if all(numeric):
        return [str(k) for k in range(max(int(label) for _, _, label in rows) + 1)], True
    return sorted({label for _, _, label in rows}), False


def open_csv(split: str, root: str | None, image_size: tuple[int, int], name: str = "csv",
             crop_fraction: float = 1.0) -> LabelledImages:
    base = require_root(root, name, README)
    path = base / f"{split}.csv"
    if not path.is_file():
        raise DatasetError(f"{name}: {path} is missing (rows 'path,label'); layout: {README}")
    rows = require_files(read_rows(path), f"rows in {path}", name, README)
    reference = base / "train.csv" if (base / "train.csv").is_file() else path
    classes, numeric = label_scheme(reference, rows if reference == path else read_rows(reference))
    index = {class_name: k for k, class_name in enumerate(classes)}
    files, labels = [], []
    for number, relative, label in rows:
        key = str(int(label)) if numeric and _is_int(label) else label  # '007' -> '7'
        if key not in index:  # numeric: '0'..'K-1' are the valid labels, so '-1' or 'cat' land here
            kind = f"an integer 0..{len(classes) - 1}" if numeric else "a class name"
            raise DatasetError(f"{path}:{number}: label {label!r} is not {kind} of {reference.name}")
        file = base / relative
        if not file.is_file():
            raise DatasetError(f"{name}: {file} is missing (listed in {path}:{number}); paths are relative to {base}")
        files.append(file)
        labels.append(index[key])
    return LabelledImages(name, split, base, files, labels, classes, image_size, crop_fraction,
                          source=f"{path.name}, classes from {reference.name}")


def check_csv(root: Path) -> list[str]:
    return [] if any(root.glob("*.csv")) else [f"no <split>.csv (rows 'path,label') in {root}"]


register_crop_variants("csv", open_csv, check_layout=check_csv,
                       description="classification list root/<split>.csv of 'path,label' rows "
                                   "(label an integer or a class name)")
