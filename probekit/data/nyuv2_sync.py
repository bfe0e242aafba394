"""NYU Depth v2 in the BTS layout (also used by AdaBins, ZoeDepth, the toolbox and hence DINOv2's depth eval).

    root/sync/<scene>/rgb_00045.jpg, sync_depth_00045.png          train: ~24k frames of the raw videos
    root/official_splits/test/<scene>/rgb_00045.jpg, sync_depth_*   test: the official 654 frames
    root/nyudepthv2_train_files_with_gt.txt
        lines like "/kitchen_0028b/rgb_00045.jpg /kitchen_0028b/sync_depth_00045.png 518.8579"
    root/nyudepthv2_test_files_with_gt.txt
        lines like "bathroom/rgb_00045.jpg bathroom/sync_depth_00045.png 518.8579"

Depth PNGs are 16-bit millimetres (depth = value / 1000, 0 = invalid); frames are 480x640. A split's
list file is used when present (rgb and depth columns, relative to the split's folder); without it, every
rgb_*.jpg under the split's folder with its sync_depth_*.png. No val split (probekit probe holds out
every 10th training sample).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from probekit.data.crop_window import centre_window, fit_to_window
from probekit.data.depth_targets import EIGEN_BOX_480x640, check_split, depth_targets
from probekit.data.geometry import size_hw
from probekit.data.image_files import read_png16, read_rgb, require_listed
from probekit.data.layout import read_list_text, require_files, require_root, resolve_under
from probekit.data.registry import DatasetEntry, register_dataset
from probekit.errors import DatasetError
from probekit.provenance import short_hash

NAME, README = "nyuv2-sync", "datasets/nyuv2/README.md"
SOURCES = {  # split -> (list file, folder its paths are relative to)
    "train": ("nyudepthv2_train_files_with_gt.txt", "sync"),
    "test": ("nyudepthv2_test_files_with_gt.txt", "official_splits/test"),
}
FRAME = (480, 640)
DEPTH_SCALE = 1000.0  # PNG value per metre
MAX_DEPTH = 10.0


def list_pairs(root: Path, split: str) -> tuple[list[tuple[Path, Path]], str]:
    """(rgb, depth) paths of `split` and where they were listed."""
    list_name, folder_name = SOURCES[split]
    listing, folder = root / list_name, root / folder_name
    if listing.is_file():
        pairs = []
        for number, line in enumerate(read_list_text(listing).splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise DatasetError(f"{listing}:{number}: expected 'rgb depth [focal]', got {line!r}")
            rgb, depth = (resolve_under(folder, field.lstrip("/"), f"{listing}:{number}") for field in fields[:2])
            pairs.append((rgb, depth))
        return pairs, list_name
    if folder.is_dir():
        rgbs = sorted(folder.glob("*/rgb_*.jpg"))
        depths = [rgb.with_name(f"sync_depth_{rgb.stem.removeprefix('rgb_')}.png") for rgb in rgbs]
        return list(zip(rgbs, depths, strict=True)), f"{folder_name}/*/rgb_*.jpg"
    raise DatasetError(f"{NAME}: neither {listing} nor {folder}/ exists; layout: {README}")


class NYUv2Sync:
    """RGB/16-bit-depth pairs in BTS's folders; the image fitted by a centred window, depth at 480x640 resolution."""

    name = NAME

    def __init__(self, split: str, root: str | None, image_size: tuple[int, int]):
        check_split(NAME, split, SOURCES)
        self.split, self.image_size = split, size_hw(image_size)
        self.root = require_root(root, NAME, README)
        pairs, self.source = list_pairs(self.root, split)
        self.files = require_files(pairs, f"rgb/depth pairs in {self.source}", NAME, README)
        require_listed([path for pair in self.files for path in pair], self.source, NAME, README)
        self.window = centre_window(FRAME, self.image_size)
        self.eval_box = np.array(self.window.box(*EIGEN_BOX_480x640), dtype=np.int32)
        self.targets = depth_targets(
            self.window,
            self.image_size,
            MAX_DEPTH,
            "eigen",
            source=self.source,
            depth_png_scale=DEPTH_SCALE,
            eval_box=self.eval_box.tolist(),
        )
        self.originals = ("depth",)  # the whole 480x640 frame, where the Eigen crop is defined

    def __len__(self) -> int:
        return len(self.files)

    def sample_id(self, index: int) -> str:
        rgb = self.files[index][0]
        return f"{rgb.parent.name}/{rgb.stem}"

    def __getitem__(self, index: int) -> dict[str, Any]:
        rgb_path, depth_path = self.files[index]
        image, raw = read_rgb(rgb_path), read_png16(depth_path)  # (480, 640, 3), (480, 640) mm
        for path, shape in ((rgb_path, image.shape[:2]), (depth_path, raw.shape)):
            if shape != FRAME:
                raise DatasetError(f"{path} is {shape[0]}x{shape[1]}; NYU v2 frames are {FRAME[0]}x{FRAME[1]}")
        frame = raw.astype(np.float32) / DEPTH_SCALE  # (480, 640) metres, 0 stays 0 (invalid)
        pixel_map = self.window.pixel_map(self.image_size).as_array()
        return {
            "id": self.sample_id(index),
            "image": fit_to_window(image, self.window, self.image_size),
            "depth": np.ascontiguousarray(self.window.cut(frame)),
            "eval_crop": self.eval_box.copy(),
            "original": {"shape": frame.shape, "pixel_map": pixel_map, "depth": frame},
        }

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": NAME,
            "split": self.split,
            "root": str(self.root),
            "source": self.source,
            "window": self.window.as_list(),
            "image_fit": "centred window of the size's aspect ratio, resized; depth cut to the same window",
        }

    def fingerprint(self) -> str:
        return short_hash(self.describe(), [self.sample_id(i) for i in range(len(self))])


def check_nyuv2_sync(root: Path) -> list[str]:
    return [
        f"neither {root / listing} nor {root / folder}/ exists"
        for listing, folder in SOURCES.values()
        if not (root / listing).is_file() and not (root / folder).is_dir()
    ]


register_dataset(
    NAME,
    DatasetEntry(
        factory=NYUv2Sync,
        description="NYU Depth v2, BTS layout (sync/ ~24k train frames, official_splits/test 654); 16-bit mm PNGs",
        tasks=("depth",),
        splits=tuple(SOURCES),
        readme=README,
        check_layout=check_nyuv2_sync,
    ),
)
