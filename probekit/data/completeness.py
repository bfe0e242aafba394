"""How much of a dataset a tree holds: samples found per split against the official counts.

A half-extracted archive still opens (ADE20K with 9,000 of its 20,210 training images) or fails on the
first listed file it lacks; `probekit datasets NAME --root DIR` reports both per split, before hours of
extraction. Where the counts come from is in docs/datasets/<name>.md; each count's source is named here
too, so a report can say what it compared against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from probekit.errors import DatasetError

if TYPE_CHECKING:
    from probekit.data.base import CorrespondenceDataset
    from probekit.data.registry import DatasetFactory


@dataclass(frozen=True)
class Official:
    """The published size of one split, in `unit`s, and where that number is stated."""

    count: int
    source: str
    unit: str = "images"
    optional: bool = False  # an add-on download (VOC's SBD train_aug): absent is not incomplete


# dataset -> split -> official size. Sources are cited in full in docs/datasets/<name>.md.
OFFICIAL: Mapping[str, Mapping[str, Official]] = {
    "voc": {
        "train": Official(1464, "VOC2012 ImageSets/Segmentation/train.txt"),
        "val": Official(1449, "VOC2012 ImageSets/Segmentation/val.txt"),
        "train_aug": Official(10582, "SBD-augmented train_aug list (mmseg voc_aug.py AUG_LEN)", optional=True),
    },
    "ade20k": {
        "train": Official(20210, "ADEChallengeData2016 training (CSAILVision/sceneparsing)"),
        "val": Official(2000, "ADEChallengeData2016 validation (CSAILVision/sceneparsing)"),
    },
    "cityscapes": {"train": Official(2975, "Cityscapes gtFine train"), "val": Official(500, "Cityscapes gtFine val")},
    "nyuv2": {
        "train": Official(795, "NYU v2 splits.mat trainNdxs"),
        "test": Official(654, "NYU v2 splits.mat testNdxs"),
    },
    "nyuv2-raw": {
        "train": Official(795, "NYU v2 splits.mat trainNdxs"),
        "test": Official(654, "NYU v2 splits.mat testNdxs"),
    },
    "nyuv2-13": {
        "train": Official(795, "NYU v2 splits.mat trainNdxs"),
        "test": Official(654, "NYU v2 splits.mat testNdxs"),
    },
    "nyuv2-sync": {
        "train": Official(24231, "BTS nyudepthv2_train_files_with_gt.txt"),
        "test": Official(654, "BTS nyudepthv2_test_files_with_gt.txt"),
    },
    "kitti": {
        "train": Official(23158, "BTS eigen_train_files_with_gt.txt"),
        "test": Official(652, "BTS eigen_test_files_with_gt.txt: 697 lines, 45 without ground truth"),
    },
    "spair": {
        "trn": Official(53340, "SPair-71k Layout/large/trn.txt", "pairs"),
        "val": Official(5384, "SPair-71k Layout/large/val.txt", "pairs"),
        "test": Official(12234, "SPair-71k Layout/large/test.txt", "pairs"),
    },
    "pfpascal": {"test": Official(300, "weakalign test_pairs_pf_pascal.csv", "pairs")},
    "imagenet": {
        "train": Official(1281167, "ILSVRC2012 train (dinov2 ImageNet _Split.length)"),
        "val": Official(50000, "ILSVRC2012 val (dinov2 ImageNet _Split.length)"),
    },
}


@dataclass(frozen=True)
class SplitCount:
    """What one split of a tree holds: `found` samples (None when it cannot be opened, `problem` says why)."""

    split: str
    official: Official
    found: int | None
    problem: str = ""

    @property
    def complete(self) -> bool:
        """Found exactly the official count; an optional split that is absent does not count against the tree."""
        if self.found is None:
            return self.official.optional
        return self.found == self.official.count

    def line(self) -> str:
        """One line for the report: found of official, or why the split cannot be read."""
        unit = self.official.unit
        if self.found is None:
            note = " (optional)" if self.official.optional else ""
            return f"{self.split}: not readable{note}: {self.problem}"
        if self.found == self.official.count:
            return f"{self.split}: {self.found} of {self.official.count} {unit} ({self.official.source})"
        gap = self.official.count - self.found
        status = f"{gap} missing" if gap > 0 else f"{-gap} more than official: a different split list?"
        return f"{self.split}: {self.found} of {self.official.count} {unit}, {status} ({self.official.source})"


def count_splits(name: str, root: Path) -> list[SplitCount]:
    """Every split of `name` with a published size, counted under `root` ([] when none is published)."""
    from probekit.data.registry import dataset_entry

    entry = dataset_entry(name)
    return [_count(entry.factory, split, root, official) for split, official in OFFICIAL.get(name, {}).items()]


def _count(factory: DatasetFactory, split: str, root: Path, official: Official) -> SplitCount:
    """Open the split as extraction would and count images (or pairs); a DatasetError becomes the problem."""
    try:
        dataset = factory(split, str(root), (224, 224))
    except DatasetError as error:
        return SplitCount(split, official, None, str(error))
    found = len(cast("CorrespondenceDataset", dataset).pair_table) if official.unit == "pairs" else len(dataset)
    return SplitCount(split, official, found)
