"""Classification lists: `root/<split>.csv` with rows `path,label` (paths relative to root).

The header row `path,label` is optional. Labels are all integers (used as they are) or all class
names (numbered in sorted order). Integer labels are class indices 0..K-1 with K = max + 1, so they
must not be negative, nor leave the range mostly empty: the largest must be below
min(100000, 10 x the distinct labels + 1000); otherwise remap them or use class names. Paths must
stay under root (no absolute paths, no '..' out of it). The file is UTF-8 (with or without a BOM)
or UTF-16 with a BOM. Class names and the number of classes come from `train.csv` when it
exists, so every split agrees on the labels. Images are fitted as in `imagefolder`.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from probekit.data.imagefolder import LabelledImages, register_crop_variants
from probekit.data.layout import read_list_text, require_files, require_root, resolve_under
from probekit.errors import DatasetError

README = "datasets/imagefolder/README.md"
HEADER = ("path", "label")
MAX_CLASSES = 100_000  # integer labels above this are ids to remap, not class indices
SPARSE_FACTOR, SPARSE_SLACK = 10, 1000  # the largest integer label must be < 10 x distinct + 1000


def read_rows(path: Path) -> list[tuple[int, str, str]]:
    """(line number, path, label) of every data row; a first row `path,label` is a header."""
    rows = []
    reader = csv.reader(io.StringIO(read_list_text(path), newline=""))
    try:
        for number, row in enumerate(reader, start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise DatasetError(f"{path}:{number}: expected 2 columns 'path,label', got {len(row)}")
            cells = (row[0].strip(), row[1].strip())
            if number == 1 and tuple(c.lower() for c in cells) == HEADER:
                continue
            rows.append((number, *cells))
    except csv.Error as error:
        raise DatasetError(f"{path}:{reader.line_num}: not a readable CSV row ({error})") from None
    return rows


def _is_int(text: str) -> bool:
    return re.fullmatch(r"-?[0-9]+", text) is not None


def _shown(label: str) -> str:
    """A label for an error message, cut short so that the message stays one readable line."""
    return label if len(label) <= 30 else f"{label[:30]}..."


def _int_value(label: str) -> int | None:
    """An integer label's value; None when it has more digits than any class index (not worth parsing)."""
    return int(label) if len(label.lstrip("-").lstrip("0")) <= 18 else None


def _int_key(label: str) -> str:
    """An integer label's canonical form ('007' -> '7'); a huge one stays as it is (and matches no class)."""
    value = _int_value(label)
    return label if value is None else str(value)


def _class_count(path: Path, rows: list[tuple[int, str, str]]) -> int:
    """K = max + 1 of integer labels, refusing negative ones and a range too large or mostly empty."""
    distinct: set[int] = set()
    top = (-1, 0, "")  # (value, line, label) of the largest label
    for number, _, label in rows:
        value = _int_value(label)
        value = MAX_CLASSES if value is None else value
        if value < 0:
            raise DatasetError(
                f"{path}:{number}: label {_shown(label)} is negative; integer labels are class indices "
                f"0..K-1 (or use class names)"
            )
        distinct.add(value)
        if value > top[0]:
            top = (value, number, label)
    value, number, label = top
    limit = min(MAX_CLASSES, SPARSE_FACTOR * len(distinct) + SPARSE_SLACK)
    if value >= limit:
        raise DatasetError(
            f"{path}:{number}: integer label {_shown(label)} is too large for {len(distinct)} distinct "
            f"labels (must be < {limit}); remap the labels to 0..K-1 or use class names"
        )
    return value + 1


def label_scheme(path: Path, rows: list[tuple[int, str, str]]) -> tuple[list[str], bool]:
    """(class names, numeric): '0'..'K-1' for integer labels (K = max + 1), else the sorted distinct names."""
    if not rows:
        raise DatasetError(f"{path}: no data rows; list the split's images as 'path,label' rows")
    numeric = [_is_int(label) for _, _, label in rows]
    if any(numeric) and not all(numeric):
        number, _, label = rows[numeric.index(not numeric[0])]
        raise DatasetError(f"{path}:{number}: label {label!r} mixes integer and class-name labels; use one kind")
    if all(numeric):
        return [str(k) for k in range(_class_count(path, rows))], True
    return sorted({label for _, _, label in rows}), False


def open_csv(
    split: str, root: str | None, image_size: tuple[int, int], name: str = "csv", crop_fraction: float = 1.0
) -> LabelledImages:
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
        key = _int_key(label) if numeric and _is_int(label) else label  # '007' -> '7'
        if key not in index:  # numeric: '0'..'K-1' are the valid labels, so '-1' or 'cat' land here
            kind = f"an integer 0..{len(classes) - 1}" if numeric else "a class name"
            raise DatasetError(f"{path}:{number}: label {_shown(label)!r} is not {kind} of {reference.name}")
        file = resolve_under(base, relative, f"{path}:{number}")
        if not file.is_file():
            raise DatasetError(f"{name}: {file} is missing (listed in {path}:{number}); paths are relative to {base}")
        files.append(file)
        labels.append(index[key])
    return LabelledImages(
        name,
        split,
        base,
        files,
        labels,
        classes,
        image_size,
        crop_fraction,
        source=f"{path.name}, classes from {reference.name}",
    )


def check_csv(root: Path) -> list[str]:
    return [] if any(root.glob("*.csv")) else [f"no <split>.csv (rows 'path,label') in {root}"]


register_crop_variants(
    "csv",
    open_csv,
    check_layout=check_csv,
    description="classification list root/<split>.csv of 'path,label' rows (label an integer or a class name)",
)
