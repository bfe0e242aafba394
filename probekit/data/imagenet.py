"""ImageNet (ILSVRC-2012) classification as distributed: train/<wnid>/*.JPEG and a flat val/ with its labels.

Layout (docs/datasets/imagenet.md), under the root:
- `train/n01440764/*.JPEG`: one folder per WordNet id (wnid).
- `val/ILSVRC2012_val_00000001.JPEG` ... flat, labelled by EITHER the devkit
  (`ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt`: line k is the 1-based ILSVRC2012_ID
  of image k, mapped to a wnid by `ILSVRC2012_devkit_t12/data/meta.mat`) OR Kaggle's `LOC_val_solution.csv`
  (`ImageId,PredictionString`, the prediction string starting with the wnid); or val/ already sorted into
  wnid folders (the "valprep.sh" layout).
Kaggle's download works as it unpacks: a root holding `ILSVRC/Data/CLS-LOC/{train,val}` and the LOC files.
Class k is the k-th wnid in sorted order (torchvision's `find_classes` sorts folder names, timm's
ImageNetInfo lists the synsets sorted), NOT ILSVRC2012_ID - 1. Class names are the synset words of
`LOC_synset_mapping.txt` or meta.mat ("tench, Tinca tinca": the whole string, as some first names repeat).
Images are fitted as DINOv2's linear evaluation does (Resize(256, bicubic) + CenterCrop(224)): the centred
window of 0.875 x the shorter side, resized to the size (probekit/data/imagefolder.py's `LabelledImages`).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from probekit.data.image_files import require_listed
from probekit.data.imagefolder import LabelledImages, class_folders, scan_images
from probekit.data.layout import read_list_text, require_files, require_root, resolve_under
from probekit.data.registry import DatasetEntry, register_dataset
from probekit.errors import DatasetError

NAME = "imagenet"
README = "docs/datasets/imagenet.md"
SPLITS = ("train", "val")
CROP_FRACTION = 224 / 256  # Resize(256) + CenterCrop(224)
DEVKIT = "ILSVRC2012_devkit_t12/data"
GROUND_TRUTH = f"{DEVKIT}/ILSVRC2012_validation_ground_truth.txt"
META = f"{DEVKIT}/meta.mat"
LOC_SOLUTION = "LOC_val_solution.csv"
SYNSET_MAPPING = "LOC_synset_mapping.txt"
KAGGLE_IMAGES = "ILSVRC/Data/CLS-LOC"  # Kaggle's train/ and val/, below the folder holding the LOC files
WNID = re.compile(r"n[0-9]{8}")


def image_root(root: Path) -> Path:
    """The folder holding train/ and val/: root itself, or Kaggle's ILSVRC/Data/CLS-LOC below it."""
    kaggle = root / KAGGLE_IMAGES
    return kaggle if not (root / "train").is_dir() and not (root / "val").is_dir() and kaggle.is_dir() else root


def _check_wnids(folders: list[str], parent: Path) -> list[str]:
    """`folders` unchanged, or an error naming the first that is not a wnid (a nested split folder, say)."""
    for folder in folders:
        if not WNID.fullmatch(folder):
            raise DatasetError(
                f"{NAME}: {parent / folder} is not a WordNet id folder (n + 8 digits); "
                f"{parent} holds one folder per class, e.g. {parent}/n01440764/; layout: {README}"
            )
    return folders


def read_synset_mapping(path: Path) -> dict[str, str]:
    """wnid -> words from `LOC_synset_mapping.txt` lines 'n01440764 tench, Tinca tinca'."""
    words = {}
    for number, line in enumerate(read_list_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        wnid, _, name = line.strip().partition(" ")
        if not WNID.fullmatch(wnid):
            raise DatasetError(
                f"{path}:{number}: {wnid!r} is not a WordNet id; expected 'n01440764 tench, Tinca tinca'"
            )
        words[wnid] = name.strip() or wnid
    if not words:
        raise DatasetError(f"{path}: no synsets; expected lines 'n01440764 tench, Tinca tinca'")
    return words


def read_meta_mat(path: Path) -> tuple[dict[int, str], dict[str, str]]:
    """(ILSVRC2012_ID -> wnid, wnid -> words) of the 1000 leaf synsets (num_children 0) in the devkit's meta.mat."""
    try:
        from scipy.io import loadmat
        from scipy.io.matlab import MatReadError
    except ImportError:
        raise DatasetError(f"{NAME}: reading {path} needs scipy: pip install scipy (or use {LOC_SOLUTION})") from None
    try:
        synsets = loadmat(str(path), squeeze_me=True)["synsets"]
        rows = zip(synsets["ILSVRC2012_ID"], synsets["WNID"], synsets["words"], synsets["num_children"], strict=True)
        leaves = [(int(i), str(w), str(words)) for i, w, words, children in rows if int(children) == 0]
    except (MatReadError, OSError, ValueError, KeyError, TypeError, NotImplementedError) as error:
        raise DatasetError(
            f"{NAME}: cannot read {path} ({type(error).__name__}: {error}); "
            "it should be the ILSVRC2012 devkit's meta.mat with a 'synsets' struct"
        ) from None
    if not leaves:
        raise DatasetError(f"{path}: no leaf synsets (num_children 0); is this the ILSVRC2012 devkit's meta.mat?")
    return {i: wnid for i, wnid, _ in leaves}, {wnid: words for _, wnid, words in leaves}


def read_ground_truth(path: Path, id_to_wnid: dict[int, str]) -> list[str]:
    """The wnid of val image k (1-based line k) from the devkit's ILSVRC2012_ID list."""
    wnids = []
    for number, line in enumerate(read_list_text(path).splitlines(), start=1):
        text = line.strip()
        if not text.isdigit() or int(text) not in id_to_wnid:
            raise DatasetError(
                f"{path}:{number}: {text[:30]!r} is not an ILSVRC2012_ID of {META} "
                f"(1..{len(id_to_wnid)}); is this the devkit's validation ground truth?"
            )
        wnids.append(id_to_wnid[int(text)])
    if not wnids:
        raise DatasetError(f"{path}: empty; expected one ILSVRC2012_ID per validation image")
    return wnids


def read_loc_solution(path: Path) -> list[tuple[int, str, str]]:
    """(line, ImageId, wnid) of `LOC_val_solution.csv` rows, sorted by ImageId; duplicates are errors."""
    rows: list[tuple[int, str, str]] = []
    seen: dict[str, int] = {}
    reader = csv.reader(io.StringIO(read_list_text(path), newline=""))
    try:
        for number, row in enumerate(reader, start=1):
            if not row or (number == 1 and [c.strip() for c in row] == ["ImageId", "PredictionString"]):
                continue
            if len(row) != 2 or not row[1].split():
                raise DatasetError(f"{path}:{number}: expected 'ImageId,PredictionString' with the wnid first")
            image_id, wnid = row[0].strip(), row[1].split()[0]
            if image_id in seen:
                raise DatasetError(f"{path}:{number}: {image_id} is listed twice (first at line {seen[image_id]})")
            seen[image_id] = number
            rows.append((number, image_id, wnid))
    except csv.Error as error:
        raise DatasetError(f"{path}:{reader.line_num}: not a readable CSV row ({error})") from None
    return sorted(rows, key=lambda row: row[1])


def _class_wnids(images: Path, synsets: dict[str, str] | None) -> tuple[list[str], str]:
    """The sorted wnids (from train/'s folders, else from the synset list) and where they came from."""
    if (images / "train").is_dir():
        folders = _check_wnids(class_folders(images / "train"), images / "train")
        return require_files(folders, f"wnid class folders in {images / 'train'}", NAME, README), "train/"
    if synsets is None:
        raise DatasetError(
            f"{NAME}: {images / 'train'} is missing and no {SYNSET_MAPPING} or {META} lists the "
            f"classes; layout: {README}"
        )
    return sorted(synsets), "the synset list"


def _synsets(base: Path) -> dict[str, str] | None:
    """wnid -> words from LOC_synset_mapping.txt, else the devkit's meta.mat, else None."""
    if (base / SYNSET_MAPPING).is_file():
        return read_synset_mapping(base / SYNSET_MAPPING)
    if (base / META).is_file():
        return read_meta_mat(base / META)[1]
    return None


def _label(wnid: str, index: dict[str, int], where: str, reference: str) -> int:
    if wnid not in index:
        raise DatasetError(
            f"{where}: {wnid!r} is not a class of {reference} ({len(index)} wnids); "
            "train/ and the validation labels must be the same ImageNet release"
        )
    return index[wnid]


def _sorted_val(val: Path, index: dict[str, int], reference: str) -> tuple[list[Path], list[int], str]:
    """val/<wnid>/*.JPEG (valprep.sh): labels from the folder names; loose images beside them are an error."""
    loose = [path for path in val.iterdir() if path.is_file() and not path.name.startswith(".")]
    if loose:
        raise DatasetError(
            f"{NAME}: {loose[0]} lies beside the wnid folders of {val}; val/ is either all class folders or all images"
        )
    files, labels = [], []
    for wnid in _check_wnids(class_folders(val), val):
        label = _label(wnid, index, str(val / wnid), reference)
        images = scan_images(val / wnid)
        files += images
        labels += [label] * len(images)
    return files, labels, "val/<wnid> folders"


def _devkit_val(base: Path, val: Path, index: dict[str, int], reference: str) -> tuple[list[Path], list[int], str]:
    """Flat val/ labelled by the devkit: line k of the ground truth is ILSVRC2012_val_{k:08d}.JPEG."""
    if not (base / META).is_file():
        raise DatasetError(
            f"{NAME}: {base / META} is missing; it maps {GROUND_TRUTH}'s ILSVRC2012_IDs to "
            f"wnids (unpack the whole ILSVRC2012_devkit_t12.tar.gz); layout: {README}"
        )
    wnids = read_ground_truth(base / GROUND_TRUTH, read_meta_mat(base / META)[0])
    files = [val / f"ILSVRC2012_val_{k:08d}.JPEG" for k in range(1, len(wnids) + 1)]
    labels = [_label(wnid, index, f"{base / GROUND_TRUTH}:{k}", reference) for k, wnid in enumerate(wnids, start=1)]
    require_listed(files, str(base / GROUND_TRUTH), NAME, README)
    return files, labels, GROUND_TRUTH


def _loc_val(base: Path, val: Path, index: dict[str, int], reference: str) -> tuple[list[Path], list[int], str]:
    """Flat val/ labelled by Kaggle's LOC_val_solution.csv (the first token of PredictionString is the wnid)."""
    path = base / LOC_SOLUTION
    rows = require_files(read_loc_solution(path), f"rows in {path}", NAME, README)
    files = [resolve_under(val, f"{image_id}.JPEG", f"{path}:{number}") for number, image_id, _ in rows]
    labels = [_label(wnid, index, f"{path}:{number}", reference) for number, _, wnid in rows]
    require_listed(files, str(path), NAME, README)
    return files, labels, LOC_SOLUTION


def _val_files(base: Path, val: Path, index: dict[str, int], reference: str) -> tuple[list[Path], list[int], str]:
    """(files, labels, label source) of `val`, from whichever of the three layouts the tree has."""
    if class_folders(val):
        return _sorted_val(val, index, reference)
    if (base / GROUND_TRUTH).is_file():
        return _devkit_val(base, val, index, reference)
    if (base / LOC_SOLUTION).is_file():
        return _loc_val(base, val, index, reference)
    raise DatasetError(
        f"{NAME}: {val} is flat but neither {base / GROUND_TRUTH} nor {base / LOC_SOLUTION} "
        f"labels it; unpack the devkit or the Kaggle csv there, or sort val/ into wnid folders; "
        f"layout: {README}"
    )


def open_imagenet(split: str, root: str | None, image_size: tuple[int, int]) -> LabelledImages:
    """One split of ILSVRC-2012 in its official layout, classes = sorted wnids, 'resize 256, crop 224' fit."""
    base = require_root(root, NAME, README)
    images = image_root(base)
    if not (images / split).is_dir():
        raise DatasetError(
            f"{NAME}: {images / split} is missing (expected {images}/train/<wnid>/*.JPEG and "
            f"{images}/val/); layout: {README}"
        )
    synsets = _synsets(base)
    wnids, reference = _class_wnids(images, synsets)
    index = {wnid: k for k, wnid in enumerate(wnids)}
    if split == "train":
        files, labels = [], []
        for label, wnid in enumerate(wnids):
            found = scan_images(images / "train" / wnid)
            if not found:  # a per-class tar that was never unpacked: the class would have no training images
                raise DatasetError(
                    f"{NAME}: {images / 'train' / wnid} holds no images; untar {wnid}.tar into it or remove the folder"
                )
            files += found
            labels += [label] * len(found)
        source = "train/<wnid> folders"
    else:
        files, labels, source = _val_files(base, images / "val", index, reference)
    require_files(files, f"images in {images / split}", NAME, README)
    names = [synsets.get(wnid, wnid) if synsets else wnid for wnid in wnids]
    return LabelledImages(
        NAME,
        split,
        images,
        files,
        labels,
        names,
        image_size,
        CROP_FRACTION,
        source=f"{source}, classes = sorted wnids of {reference}",
    )


def check_layout(root: Path) -> list[str]:
    """What the tree lacks (paths relative to root): the split folders and, for a flat val/, its labels."""
    images = image_root(root)
    prefix = "" if images == root else f"{KAGGLE_IMAGES}/"
    problems = [prefix + split for split in SPLITS if not (images / split).is_dir()]
    if (images / "train").is_dir() and not class_folders(images / "train"):
        problems.append(f"{prefix}train/<wnid>/ class folders")
    if (images / "val").is_dir() and not class_folders(images / "val"):
        if (root / GROUND_TRUTH).is_file():
            problems += [] if (root / META).is_file() else [META]
        elif not (root / LOC_SOLUTION).is_file():
            problems.append(f"{GROUND_TRUTH} (or {LOC_SOLUTION}) labelling the flat val/")
    return problems


register_dataset(
    NAME,
    DatasetEntry(
        factory=open_imagenet,
        description="ILSVRC-2012 as distributed: train/<wnid>/, flat val/ labelled by the devkit or "
        "LOC_val_solution.csv (or val/<wnid>/); classes = sorted wnids; 'resize 256, crop 224' ratio",
        tasks=("classification",),
        splits=SPLITS,
        readme=README,
        check_layout=check_layout,
    ),
)
