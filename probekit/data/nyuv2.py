"""NYU Depth v2, labeled subset: `nyu_depth_v2_labeled.mat` (MATLAB v7.3 = HDF5) with the official `splits.mat`.

h5py sees MATLAB's column-major arrays transposed: `images` (1449, 3, 640, 480) uint8 and `depths` /
`rawDepths` (1449, 640, 480) float32 metres, so a sample is images[n].transpose(2, 1, 0) -> (480, 640, 3)
and depths[n].T -> (480, 640). splits.mat (MATLAB v5, scipy) has 1-based column vectors trainNdxs (795)
and testNdxs (654); there is no val split (probekit probe holds out every 10th training sample).

`nyuv2` reads `depths` (dense, holes filled by colorization); `nyuv2-raw` reads `rawDepths` (the
projected sensor depth, 0 = missing), which is what BTS's `official_splits/test` PNGs, and hence the
DINOv2/toolbox NYU test numbers, are made from. Samples are read one at a time; the file is opened
lazily in each DataLoader worker, so `--limit 8` reads 8 images, not the 2.8 GB file.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from probekit.data.crop_window import Window, centre_window, fit_to_window
from probekit.data.depth_targets import EIGEN_BOX_480x640, check_split, depth_targets
from probekit.data.layout import missing_paths, require_paths, require_root
from probekit.data.registry import DatasetEntry, register_dataset
from probekit.errors import DatasetError
from probekit.provenance import short_hash

README = "datasets/nyuv2/README.md"
MAT, SPLITS_MAT = "nyu_depth_v2_labeled.mat", "splits.mat"
SPLIT_KEYS = {"train": "trainNdxs", "test": "testNdxs"}
MAX_DEPTH = 10.0
DEPTH_KEYS = {"nyuv2": "depths", "nyuv2-raw": "rawDepths"}


def read_split_indices(path: Path, split: str) -> np.ndarray:
    """0-based sample indices of `split` from the official splits.mat (1-based column vectors)."""
    import scipy.io

    try:
        content = scipy.io.loadmat(str(path))
    except Exception as error:  # scipy raises several types for a file that is not a MAT file
        raise DatasetError(f"cannot read {path} as a MATLAB file ({error}); expected the official splits.mat") from None
    key = SPLIT_KEYS[split]
    if key not in content:
        raise DatasetError(f"{path} has no {key!r}; expected the official splits.mat with {', '.join(SPLIT_KEYS.values())}")
    return np.asarray(content[key]).reshape(-1).astype(np.int64) - 1


class NYUv2Labeled:
    """The 1449 labeled frames: RGB fitted to the size by a centred crop window, depth at 480x640 resolution."""

    def __init__(self, split: str, root: str | None, image_size: tuple[int, int], name: str = "nyuv2",
                 depth_key: str = "depths"):
        check_split(name, split, SPLIT_KEYS)
        self.name, self.split, self.depth_key = name, split, depth_key
        self.root = require_root(root, name, README)
        require_paths(self.root, [MAT, SPLITS_MAT], name, README)
        self.path = self.root / MAT
        self.indices = read_split_indices(self.root / SPLITS_MAT, split)
        self.image_size = tuple(image_size)
        num, (h0, w0) = self._check_file()
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= num):
            raise DatasetError(f"{self.root / SPLITS_MAT}: {SPLIT_KEYS[split]} has indices outside 1..{num} "
                               f"of {self.path}")
        self.window: Window = centre_window((h0, w0), self.image_size)
        # Eigen crop scaled to this frame (the toolbox hard-codes it for 480x640, the labeled frame size)
        top, bottom, left, right = EIGEN_BOX_480x640
        self.eval_box = np.array(self.window.box(top * h0 // 480, bottom * h0 // 480, left * w0 // 640,
                                                 right * w0 // 640), dtype=np.int32)
        self.targets = depth_targets(self.window, self.image_size, MAX_DEPTH, "eigen", source=f"{MAT}:{depth_key}",
                                     eval_box=self.eval_box.tolist())
        self._file: h5py.File | None = None

    def _check_file(self) -> tuple[int, tuple[int, int]]:
        """Number of frames and (H, W) from the stored shapes, read without loading any data."""
        try:
            with h5py.File(self.path, "r") as f:
                missing = [k for k in ("images", self.depth_key) if k not in f]
                if missing:
                    raise DatasetError(f"{self.path} has no {missing[0]!r}; expected the NYU v2 labeled .mat")
                images, depths = f["images"].shape, f[self.depth_key].shape
        except OSError as error:
            raise DatasetError(f"cannot open {self.path} as MATLAB v7.3 (HDF5): {error}") from None
        if len(images) != 4 or images[1] != 3 or depths != (images[0], images[2], images[3]):
            raise DatasetError(f"{self.path}: images {images} and {self.depth_key} {depths} are not "
                               f"(N, 3, W, H) and (N, W, H) as in the NYU v2 labeled .mat")
        return images[0], (images[3], images[2])

    def _h5(self) -> h5py.File:
        if self._file is None:  # opened per process: DataLoader workers get a pickled copy without it
            self._file = h5py.File(self.path, "r")
        return self._file

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None}

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = int(self.indices[index])
        f = self._h5()
        image = np.ascontiguousarray(f["images"][n].transpose(2, 1, 0))  # (3, W, H) -> (H, W, 3)
        depth = f[self.depth_key][n].T.astype(np.float32)  # (W, H) -> (H, W) metres
        return {"id": f"nyuv2-{n + 1:04d}", "image": fit_to_window(image, self.window, self.image_size),
                "depth": np.ascontiguousarray(self.window.cut(depth)), "eval_crop": self.eval_box.copy()}

    def describe(self) -> dict[str, Any]:
        return {"dataset": self.name, "split": self.split, "root": str(self.root), "source": f"{MAT}:{self.depth_key}",
                "splits": f"{SPLITS_MAT}:{SPLIT_KEYS[self.split]}", "window": self.window.as_list(),
                "image_fit": "centred window of the size's aspect ratio, resized; depth cut to the same window"}

    def fingerprint(self) -> str:
        return short_hash(self.describe(), self.path.stat().st_size, self.indices.tolist())


def check_nyuv2(root: Path) -> list[str]:
    return [f"{root / rel} is missing" for rel in missing_paths(root, [MAT, SPLITS_MAT])]


for _name, _key in DEPTH_KEYS.items():
    register_dataset(_name, DatasetEntry(
        factory=partial(NYUv2Labeled, name=_name, depth_key=_key),
        description=f"NYU Depth v2 labeled .mat ({_key}), official 795/654 split; depth 0-10 m, Eigen crop",
        tasks=("depth",),
        splits=tuple(SPLIT_KEYS),
        readme=README,
        check_layout=check_nyuv2,
    ))
