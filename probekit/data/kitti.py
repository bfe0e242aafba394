"""KITTI depth, Eigen split, with the official annotated depth maps as ground truth (BTS / toolbox / DINOv2).

    root/eigen_train_files_with_gt.txt, eigen_test_files_with_gt.txt      (BTS train_test_inputs/)
        "2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png
         2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/0000000069.png 721.5377"
    root/2011_09_26/2011_09_26_drive_0002_sync/image_02/data/*.png          (KITTI raw, synced + rectified)
    root/data_depth_annotated/[train|val/]2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/*.png

Image paths are relative to root, depth paths to data_depth_annotated/ (its own train/ and val/ folders
may be kept or merged). Lines whose depth is `None` (45 of BTS's 697 test lines) are skipped, as BTS and
the toolbox do; the toolbox's kitti_eigen_{train,test}.txt (same format) and Monodepth2-style lines
"2011_09_26/2011_09_26_drive_0002_sync 69 l" are read too. Depth PNGs are 16-bit, depth = value / 256,
0 = invalid. Every frame gets the KB crop (the bottom 352 rows, the centred 1216 columns), so all
samples share one shape; the Garg crop of the raw frame is recorded per sample in `eval_crop`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from probekit.data.crop_window import Window, centre_window, fit_to_window
from probekit.data.depth_targets import check_split, depth_targets, garg_box
from probekit.data.geometry import PixelMap, size_hw
from probekit.data.image_files import read_png16, read_rgb, require_listed
from probekit.data.layout import read_list_text, require_files, require_root, resolve_under
from probekit.data.registry import DatasetEntry, register_dataset
from probekit.errors import DatasetError
from probekit.provenance import short_hash

NAME, README = "kitti", "datasets/kitti/README.md"
SPLIT_FILES = {
    "train": ("eigen_train_files_with_gt.txt", "kitti_eigen_train.txt"),
    "test": ("eigen_test_files_with_gt.txt", "kitti_eigen_test.txt"),
}
GT_DIR = "data_depth_annotated"
GT_SUBDIRS = ("", "train", "val")  # the archive unpacks into train/ and val/; merged trees work as well
KB_CROP = (352, 1216)
DEPTH_SCALE = 256.0
MAX_DEPTH = 80.0


def parse_line(line: str) -> tuple[str, str | None] | None:
    """(image path under root, depth path under data_depth_annotated or None) of one split line."""
    fields = line.split()
    if not fields:
        return None
    if len(fields) == 3 and fields[1].isdigit() and fields[2] in ("l", "r"):  # Monodepth2: folder frame side
        folder, frame, camera = fields[0], int(fields[1]), {"l": "image_02", "r": "image_03"}[fields[2]]
        drive = folder.rstrip("/").split("/")[-1]
        return (f"{folder}/{camera}/data/{frame:010d}.png", f"{drive}/proj_depth/groundtruth/{camera}/{frame:010d}.png")
    if len(fields) < 2:
        raise ValueError(line)
    return fields[0], None if fields[1] == "None" else fields[1]


def kb_crop(height: int, width: int) -> Window:
    """The KB crop of a raw frame: the bottom 352 rows, 1216 columns centred (as BTS computes it)."""
    h, w = KB_CROP
    if height < h or width < w:
        raise DatasetError(f"a {height}x{width} frame is smaller than the KB crop {h}x{w}")
    return Window(height - h, (width - w) // 2, h, w)


class KittiEigen:
    """Eigen-split frames with annotated depth: KB crop, then the image fitted by a centred window."""

    name = NAME

    def __init__(self, split: str, root: str | None, image_size: tuple[int, int]):
        check_split(NAME, split, SPLIT_FILES, note="Eigen split; ")
        self.split, self.image_size = split, size_hw(image_size)
        self.root = require_root(root, NAME, README)
        listing = next((self.root / f for f in SPLIT_FILES[split] if (self.root / f).is_file()), None)
        if listing is None:
            raise DatasetError(
                f"{NAME}: {self.root / SPLIT_FILES[split][0]} is missing (BTS's train_test_inputs/); layout: {README}"
            )
        if not (self.root / GT_DIR).is_dir():
            raise DatasetError(
                f"{NAME}: {self.root / GT_DIR} is missing (KITTI's data_depth_annotated.zip); layout: {README}"
            )
        self.listing = listing.name
        self.samples, self.skipped = self._read_listing(listing)
        require_files(self.samples, f"lines with ground truth in {listing}", NAME, README)
        require_listed([p for pair in self.samples for p in pair], self.listing, NAME, README)
        self.window = centre_window(KB_CROP, self.image_size)
        self.targets = depth_targets(
            self.window,
            self.image_size,
            MAX_DEPTH,
            "garg",
            source=self.listing,
            depth_png_scale=DEPTH_SCALE,
            original_frame="KB crop (352x1216) of the raw frame",
        )
        self.originals = ("depth",)  # the raw frame, where the Garg crop is defined

    def _read_listing(self, listing: Path) -> tuple[list[tuple[Path, Path]], int]:
        samples, skipped, drives = [], 0, {}
        gt = self.root / GT_DIR
        for number, line in enumerate(read_list_text(listing).splitlines(), start=1):
            try:
                parsed = parse_line(line)
            except ValueError:
                raise DatasetError(f"{listing}:{number}: expected 'image depth [focal]', got {line!r}") from None
            if parsed is None:
                continue
            image, depth = parsed
            if depth is None:
                skipped += 1
                continue
            image_path = resolve_under(self.root, image, f"{listing}:{number}")
            depth_file = resolve_under(gt, depth, f"{listing}:{number}").relative_to(gt)
            drive = depth_file.as_posix().split("/")[0]
            if drive not in drives:  # which of data_depth_annotated/, train/ or val/ holds this drive
                drives[drive] = next((gt / sub for sub in GT_SUBDIRS if (gt / sub / drive).is_dir()), gt)
            samples.append((image_path, drives[drive] / depth_file))
        return samples, skipped

    def __len__(self) -> int:
        return len(self.samples)

    def sample_id(self, index: int) -> str:
        image = self.samples[index][0]  # .../<drive>/image_02/data/<frame>.png
        return f"{image.parents[2].name}/{image.parents[1].name}/{image.stem}"

    def __getitem__(self, index: int) -> dict[str, Any]:
        image_path, depth_path = self.samples[index]
        image, raw = read_rgb(image_path), read_png16(depth_path)  # (H0, W0, 3), (H0, W0) in 1/256 m
        if raw.shape != image.shape[:2]:
            raise DatasetError(
                f"{depth_path} is {raw.shape[0]}x{raw.shape[1]} but {image_path} is {image.shape[0]}x{image.shape[1]}"
            )
        kb = kb_crop(*raw.shape)
        frame = kb.cut(image)  # (352, 1216, 3)
        metres = raw.astype(np.float32) / DEPTH_SCALE  # (H0, W0), 0 stays 0 (invalid)
        depth = np.ascontiguousarray(self.window.cut(kb.cut(metres)))
        top, bottom, left, right = garg_box(*raw.shape)  # raw frame -> KB frame -> window
        box = self.window.box(top - kb.top, bottom - kb.top, left - kb.left, right - kb.left)
        in_kb = self.window.pixel_map(self.image_size)  # KB-frame pixels -> image pixels
        pixel_map = PixelMap(in_kb.sx, in_kb.sy, in_kb.ox - kb.left * in_kb.sx, in_kb.oy - kb.top * in_kb.sy)
        return {
            "id": self.sample_id(index),
            "image": fit_to_window(frame, self.window, self.image_size),
            "depth": depth,
            "eval_crop": np.array(box, dtype=np.int32),
            "original": {"shape": metres.shape, "pixel_map": pixel_map.as_array(), "depth": metres},
        }

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": NAME,
            "split": self.split,
            "root": str(self.root),
            "source": self.listing,
            "skipped_without_gt": self.skipped,
            "window": self.window.as_list(),
            "image_fit": "KB crop 352x1216, then a centred window of the size's aspect ratio, resized; "
            "depth cut to the same window",
        }

    def fingerprint(self) -> str:
        return short_hash(self.describe(), [self.sample_id(i) for i in range(len(self))])


def check_kitti(root: Path) -> list[str]:
    problems = [
        f"{root / files[0]} is missing"
        for files in SPLIT_FILES.values()
        if not any((root / f).is_file() for f in files)
    ]
    if not (root / GT_DIR).is_dir():
        problems.append(f"{root / GT_DIR} is missing")
    if not any(root.glob("2011_*/*_sync")):
        problems.append(f"no raw drives {root}/2011_*/2011_*_sync/")
    return problems


register_dataset(
    NAME,
    DatasetEntry(
        factory=KittiEigen,
        description="KITTI Eigen split, annotated depth (value/256 m), KB crop 352x1216, depth 0-80 m, Garg crop",
        tasks=("depth",),
        splits=tuple(SPLIT_FILES),
        readme=README,
        check_layout=check_kitti,
    ),
)
