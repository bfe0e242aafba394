"""NYU Depth v2, labeled subset: `nyu_depth_v2_labeled.mat` (MATLAB v7.3 = HDF5) with the official `splits.mat`.

h5py sees MATLAB's column-major arrays transposed: `images` (1449, 3, 640, 480) uint8 and `depths` /
`rawDepths` (1449, 640, 480) float32 metres, so a sample is images[n].transpose(2, 1, 0) -> (480, 640, 3)
and depths[n].T -> (480, 640). splits.mat (MATLAB v5, scipy) has 1-based column vectors trainNdxs (795)
and testNdxs (654); there is no val split (probekit probe holds out every 10th training sample).

`nyuv2` reads `depths` (dense, holes filled by colorization); `nyuv2-raw` reads `rawDepths` (the
projected sensor depth, 0 = missing), which is what BTS's `official_splits/test` PNGs, and hence the
DINOv2/toolbox NYU test numbers, are made from. Samples are read one at a time; the file is opened
lazily in each DataLoader worker, so `--limit 8` reads 8 images, not the 2.8 GB file.

Segmentation: the .mat's `labels` (1449, 640, 480) uint16 hold the 894 raw NYU classes (0 = unlabeled).
`nyuv2` stores them as the NYU-40 classes (`classMapping40`, 40 ids 0..39), `nyuv2-13` as the 13-class
variant (`class13Mapping` over the 40); unlabeled becomes 255 (ignored). The tables ship in nyu40.json
with their source. Masks, like depth, keep the original resolution cut to the image's window.

Normals: `normals.npy` in the root, when present, holds ground-truth normals for every frame of the .mat,
(1449, 480, 640, 3) float in .mat order (Ladicky et al.'s, as Probe3D evaluates on: the `all_normals` array
of FAIR's nyuv2_surfacenormal_metadata `all_normals.pklz`, saved with numpy); they are stored as given,
zeroed where `rawDepths` is 0 (Probe3D's validity mask). Without it the normals are derived from the
variant's depth and NYU's colour-camera intrinsics (probekit/data/surface_normals.py). The `normals`
target's `source` attr says which (and so does a probe's results JSON).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from probekit.data.base import TargetSpec
from probekit.data.crop_window import Window, centre_window, fit_to_window
from probekit.data.depth_targets import EIGEN_BOX_480x640, check_split, depth_targets
from probekit.data.geometry import size_hw
from probekit.data.layout import missing_paths, require_paths, require_root
from probekit.data.registry import DatasetEntry, register_dataset
from probekit.data.surface_normals import DERIVED, FILE_FRAME, normals_from_depth, normals_target
from probekit.errors import DatasetError
from probekit.provenance import short_hash

README = "datasets/nyuv2/README.md"
MAT, SPLITS_MAT = "nyu_depth_v2_labeled.mat", "splits.mat"
SPLIT_KEYS = {"train": "trainNdxs", "test": "testNdxs"}
MAX_DEPTH = 10.0
VARIANTS = {"nyuv2": ("depths", 40), "nyuv2-raw": ("rawDepths", 40), "nyuv2-13": ("depths", 13)}  # depth, classes
MAPPING = Path(__file__).with_name("nyu40.json")
IGNORE_INDEX = 255
NORMALS_FILE = "normals.npy"
# NYU's colour camera (NYU toolbox camera_params.m: fx_rgb, fy_rgb, cx_rgb, cy_rgb), 1-based MATLAB pixel
# coordinates moved to probekit's continuous ones (pixel centres at index + 0.5): c - 0.5.
NYU_K_480x640 = np.array(
    [[518.8579, 0.0, 325.5824 - 0.5], [0.0, 519.4696, 253.7362 - 0.5], [0.0, 0.0, 1.0]], dtype=np.float64
)


def nyu_intrinsics(h0: int, w0: int) -> np.ndarray:
    """NYU's intrinsics scaled to a (h0, w0) frame (the labeled frames are 480x640: unchanged)."""
    return np.diag([w0 / 640, h0 / 480, 1.0]) @ NYU_K_480x640


def class_table(num_classes: int) -> tuple[np.ndarray, list[str]]:
    """(895,) uint8 raw NYU label -> class id 0..K-1 (0 unlabeled -> 255), and the K class names."""
    import json

    mapping = json.loads(MAPPING.read_text())
    to40 = np.asarray(mapping["map_894_to_40"], dtype=np.int64)  # (894,) 1..40
    if num_classes == 40:
        ids, names = to40, mapping["class_names_40"]
    else:
        ids, names = np.asarray(mapping["map_40_to_13"], dtype=np.int64)[to40 - 1], mapping["class_names_13"]
    table = np.full(len(ids) + 1, IGNORE_INDEX, dtype=np.uint8)  # (895,): index 0 is unlabeled
    table[1:] = ids - 1
    return table, list(names)


def read_split_indices(path: Path, split: str) -> np.ndarray:
    """0-based sample indices of `split` from the official splits.mat (1-based column vectors)."""
    import scipy.io

    try:
        content = scipy.io.loadmat(str(path))
    except Exception as error:  # scipy raises several types for a file that is not a MAT file
        raise DatasetError(f"cannot read {path} as a MATLAB file ({error}); expected the official splits.mat") from None
    key = SPLIT_KEYS[split]
    if key not in content:
        raise DatasetError(
            f"{path} has no {key!r}; expected the official splits.mat with {', '.join(SPLIT_KEYS.values())}"
        )
    return np.asarray(content[key]).reshape(-1).astype(np.int64) - 1


class NYUv2Labeled:
    """The 1449 labeled frames: RGB fitted to the size by a centred crop window, depth at 480x640 resolution."""

    def __init__(
        self,
        split: str,
        root: str | None,
        image_size: tuple[int, int],
        name: str = "nyuv2",
        depth_key: str = "depths",
        num_classes: int = 40,
    ):
        check_split(name, split, SPLIT_KEYS)
        self.name, self.split, self.depth_key = name, split, depth_key
        self.root = require_root(root, name, README)
        require_paths(self.root, [MAT, SPLITS_MAT], name, README)
        self.path = self.root / MAT
        self.indices = read_split_indices(self.root / SPLITS_MAT, split)
        self.image_size = size_hw(image_size)
        num, (h0, w0) = self._check_file()
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= num):
            raise DatasetError(
                f"{self.root / SPLITS_MAT}: {SPLIT_KEYS[split]} has indices outside 1..{num} of {self.path}"
            )
        self.window: Window = centre_window((h0, w0), self.image_size)
        # Eigen crop scaled to this frame (the toolbox hard-codes it for 480x640, the labeled frame size)
        top, bottom, left, right = EIGEN_BOX_480x640
        self.eval_box = np.array(
            self.window.box(top * h0 // 480, bottom * h0 // 480, left * w0 // 640, right * w0 // 640), dtype=np.int32
        )
        self.targets = depth_targets(
            self.window,
            self.image_size,
            MAX_DEPTH,
            "eigen",
            source=f"{MAT}:{depth_key}",
            eval_box=self.eval_box.tolist(),
        )
        self.classes: np.ndarray | None = None  # raw label -> class id, when the file has `labels`
        if self.has_labels:
            self.classes, names = class_table(num_classes)
            self.targets["mask"] = TargetSpec(
                self.window.shape,
                "uint8",
                {
                    "num_classes": num_classes,
                    "class_names": names,
                    "ignore_index": IGNORE_INDEX,
                    "label_mapping": f"{MAT}:labels (894 raw classes) -> NYU-{num_classes} "
                    f"(classMapping40{'' if num_classes == 40 else ' + class13Mapping'}); 0 unlabeled -> 255",
                    "resize": "none: the original resolution cut to the image's window, like depth",
                },
            )
        self.normals_path = self.root / NORMALS_FILE if (self.root / NORMALS_FILE).is_file() else None
        self.K = nyu_intrinsics(h0, w0)
        self._check_normals_file(num, (h0, w0))
        self.targets["normals"] = (
            normals_target(self.window.shape, f"file: {NORMALS_FILE}", frame=FILE_FRAME)
            if self.normals_path is not None
            else normals_target(
                self.window.shape, f"{DERIVED}, from {MAT}:{depth_key}", intrinsics=self.K.round(4).tolist()
            )
        )
        self.originals = ("depth", "mask") if self.has_labels else ("depth",)  # the whole frame, Eigen crop in it
        self._file: h5py.File | None = None

    def _check_file(self) -> tuple[int, tuple[int, int]]:
        """Number of frames and (H, W) from the stored shapes, read without loading any data."""
        try:
            with h5py.File(self.path, "r") as f:
                missing = [k for k in ("images", self.depth_key) if k not in f]
                if missing:
                    raise DatasetError(f"{self.path} has no {missing[0]!r}; expected the NYU v2 labeled .mat")
                images, depths = f["images"].shape, f[self.depth_key].shape
                self.has_labels = "labels" in f and f["labels"].shape == depths
        except OSError as error:
            raise DatasetError(f"cannot open {self.path} as MATLAB v7.3 (HDF5): {error}") from None
        if len(images) != 4 or images[1] != 3 or depths != (images[0], images[2], images[3]):
            raise DatasetError(
                f"{self.path}: images {images} and {self.depth_key} {depths} are not "
                f"(N, 3, W, H) and (N, W, H) as in the NYU v2 labeled .mat"
            )
        return images[0], (images[3], images[2])

    def _check_normals_file(self, num: int, frame: tuple[int, int]) -> None:
        """`normals.npy` must hold (num, H, W, 3) normals for every frame of the .mat."""
        if self.normals_path is None:
            return
        try:
            shape = np.load(self.normals_path, mmap_mode="r").shape
        except (OSError, ValueError) as error:
            raise DatasetError(f"cannot read {self.normals_path} as a .npy array ({error}); see {README}") from None
        if shape != (num, *frame, 3):
            raise DatasetError(
                f"{self.normals_path} holds {shape}, not ({num}, {frame[0]}, {frame[1]}, 3): one normal map per "
                f"frame of {MAT}, in its order (see {README})"
            )

    def _normals(self, f: h5py.File, n: int, depth: np.ndarray) -> np.ndarray:
        """(H0, W0, 3) float32 normals of frame n: the file's (zeroed where rawDepths is 0), else derived."""
        if self.normals_path is None:
            return normals_from_depth(depth, self.K)
        normals = np.asarray(np.load(self.normals_path, mmap_mode="r")[n], dtype=np.float32)  # reads one frame
        if "rawDepths" in f:
            normals = normals * (f["rawDepths"][n].T > 0)[..., None]  # Probe3D's validity: sensor depth > 0
        return normals

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
        original = {
            "shape": depth.shape,
            "pixel_map": self.window.pixel_map(self.image_size).as_array(),
            "depth": depth,
        }
        sample = {
            "id": f"nyuv2-{n + 1:04d}",
            "image": fit_to_window(image, self.window, self.image_size),
            "depth": np.ascontiguousarray(self.window.cut(depth)),
            "eval_crop": self.eval_box.copy(),
            "normals": np.ascontiguousarray(self.window.cut(self._normals(f, n, depth))),
            "original": original,
        }
        if self.classes is not None:
            original["mask"] = self._mask(f["labels"][n].T, n, self.classes)
            sample["mask"] = np.ascontiguousarray(self.window.cut(original["mask"]))
        return sample

    def _mask(self, raw: np.ndarray, n: int, classes: np.ndarray) -> np.ndarray:
        """(H, W) raw NYU labels 0..894 -> class ids of the whole frame, uint8; another value names the frame."""
        if raw.max(initial=0) >= len(classes):
            raise DatasetError(
                f"{self.path}: labels of frame {n + 1} hold {int(raw.max())}, beyond the 894 NYU classes; "
                f"expected the NYU v2 labeled .mat"
            )
        return np.ascontiguousarray(classes[raw])

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "split": self.split,
            "root": str(self.root),
            "source": f"{MAT}:{self.depth_key}",
            "splits": f"{SPLITS_MAT}:{SPLIT_KEYS[self.split]}",
            "window": self.window.as_list(),
            "image_fit": "centred window of the size's aspect ratio, resized; depth cut to the same window",
            "normals": self.targets["normals"].attrs["source"],
        }

    def fingerprint(self) -> str:
        normals = self.normals_path.stat().st_size if self.normals_path is not None else None
        return short_hash(self.describe(), self.path.stat().st_size, self.indices.tolist(), normals)


def check_nyuv2(root: Path) -> list[str]:
    return [f"{root / rel} is missing" for rel in missing_paths(root, [MAT, SPLITS_MAT])]


for _name, (_key, _classes) in VARIANTS.items():
    register_dataset(
        _name,
        DatasetEntry(
            factory=partial(NYUv2Labeled, name=_name, depth_key=_key, num_classes=_classes),
            description=f"NYU Depth v2 labeled .mat ({_key}), official 795/654 split; depth 0-10 m, Eigen crop; "
            f"NYU-{_classes} segmentation",
            tasks=("depth", "segmentation", "normals"),
            splits=tuple(SPLIT_KEYS),
            readme=README,
            check_layout=check_nyuv2,
        ),
    )
