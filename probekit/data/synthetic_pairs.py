"""Two-view pairs of the synthetic scenes with exact correspondences: the correspondence task's default.

Image 2p is view a of pair p, image 2p+1 its view b (the same scene from a camera orbited by
15-45 degrees, or by `yaw_deg`). Ground-truth matches come from the renderer's depth and cameras,
occlusion-tested. Every keypoint is a real surface point visible in both views; PCK is normalised by the
image size (`pck_reference = "image"`, the PF-PASCAL convention), since scenes have no single object box.
Each pair's relative camera rotation (geodesic angle, degrees) is stored beside it (`rotation_deg`).

`synthetic-multiview` is the same generator with orbits of 0-120 degrees, pair p's orbit drawn from the
(p mod 4)-th quarter of that range, so the pairs spread evenly over Probe3D's rotation bins
(0-30, 30-60, 60-90, 90-120 degrees; the multiview task).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from functools import cached_property
from typing import Any

import numpy as np

from probekit.data.base import TargetSpec
from probekit.data.geometry import PixelMap
from probekit.data.pairs import PairTable, pad_keypoints
from probekit.data.poses import relative_rotation_deg
from probekit.data.registry import DatasetEntry, register_dataset
from probekit.data.synthetic import SceneConfig, ScenePair, class_names, render_pair
from probekit.errors import DatasetError
from probekit.provenance import short_hash

PAIR_SPLIT_SIZES = {"train": 256, "val": 64, "test": 64}  # pairs; images are twice as many
_SPLIT_CODES = {"train": 10, "val": 11, "test": 12}  # disjoint from the single-view scenes' seeds
MULTIVIEW_YAW_DEG = (0.0, 120.0)  # synthetic-multiview: Probe3D's NAVI bins 0-30 ... 90-120 (multiview task)
MULTIVIEW_STRATA = 4


class SyntheticPairs:
    """Pairs of views rendered at the extraction size, `num_points` matches per pair."""

    name: str

    def __init__(
        self,
        split: str,
        image_size: tuple[int, int],
        seed: int = 0,
        num_pairs: int | None = None,
        num_points: int = 64,
        yaw_deg: tuple[float, float] | None = None,
        strata: int = 1,
        name: str = "synthetic-pairs",
    ):
        """`yaw_deg`: the orbit of view b around the objects, (low, high) degrees (default: the generator's
        15-45); `strata` > 1 cuts that range into equal parts and draws pair p's orbit from part p mod strata."""
        self.name = name
        if split not in PAIR_SPLIT_SIZES:
            raise DatasetError(f"{name} has splits {', '.join(PAIR_SPLIT_SIZES)}, not {split!r}")
        self.split, self.seed, self.num_points = split, int(seed), int(num_points)
        self.num_pairs = PAIR_SPLIT_SIZES[split] if num_pairs is None else int(num_pairs)
        if yaw_deg is None:
            self.config = SceneConfig(image_size=image_size)
        else:
            self.config = SceneConfig(image_size=image_size, pair_yaw_deg=(float(yaw_deg[0]), float(yaw_deg[1])))
        if strata < 1:
            raise DatasetError(f"{name}: strata must be a positive integer, not {strata}")
        self.strata = int(strata)
        self._names = class_names(self.config.num_classes)
        self._cache: dict[int, ScenePair] = {}
        self.targets = {
            "label": TargetSpec((), "int64", {"num_classes": self.config.num_classes, "class_names": self._names}),
            "pixel_map": TargetSpec((4,), "float32", {"convention": "stored_xy = xy * (sx, sy) + (ox, oy)"}),
        }

    def pair_seed(self, pair: int) -> int:
        return int(np.random.SeedSequence([self.seed, _SPLIT_CODES[self.split], pair]).generate_state(1)[0])

    def pair_yaw(self, pair: int) -> tuple[float, float]:
        """The orbit range pair `pair` draws from: its stratum of the configured range."""
        low, high = self.config.pair_yaw_deg
        part, width = pair % self.strata, (high - low) / self.strata
        return low + part * width, low + (part + 1) * width

    def pair(self, index: int) -> ScenePair:
        """Pair `index`, rendered once per process (the table and the images share the rendering)."""
        if index not in self._cache:  # ~150 KB per pair at 224 px: a split fits in memory
            yaw = self.pair_yaw(index) if self.strata > 1 else None
            self._cache[index] = render_pair(self.pair_seed(index), self.config, self.num_points, yaw)
        return self._cache[index]

    def __len__(self) -> int:
        return 2 * self.num_pairs

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"image {index} out of range for {len(self)} {self.name} images")
        pair = self.pair(index // 2)
        view = pair.view_b if index % 2 else pair.view_a
        return {
            "id": f"{self.name}-{self.split}-{index // 2:05d}-{'ab'[index % 2]}",
            "image": view.image,
            "label": view.label,
            "pixel_map": PixelMap.identity().as_array(),
        }

    @cached_property
    def pair_table(self) -> PairTable:
        """The pair table (renders every pair once; the renders are kept for the images)."""
        return self._table(range(self.num_pairs))

    def pair_table_among(self, images: np.ndarray) -> PairTable:
        """The pairs whose two views are both in `images`, re-indexed to them; renders only those pairs
        (`--limit N` keeps the first N images, so N / 2 pairs)."""
        kept = {int(i) for i in images}
        return self._table([p for p in range(self.num_pairs) if 2 * p in kept and 2 * p + 1 in kept]).restrict(images)

    def _table(self, rows: Iterable[int]) -> PairTable:
        rows = list(rows)
        pairs = [self.pair(p) for p in rows]
        H, W = self.config.image_size
        full = np.tile(np.array([[0, 0, W, H]], dtype=np.float32), (len(rows), 1))
        return PairTable(
            ids=[f"{self.name}-{self.split}-{p:05d}" for p in rows],
            src=np.array([2 * p for p in rows], dtype=np.int64),
            trg=np.array([2 * p + 1 for p in rows], dtype=np.int64),
            src_kps=pad_keypoints([p.points_a for p in pairs]),
            trg_kps=pad_keypoints([p.points_b for p in pairs]),
            src_bbox=full,
            trg_bbox=full.copy(),
            categories=[self._names[p.view_a.label] for p in pairs],
            pck_reference="image",
            attrs={"keypoints": "exact surface matches from depth and cameras, occlusion-tested"},
            rotation_deg=np.array(
                [relative_rotation_deg(p.view_a.camera.cam_to_world, p.view_b.camera.cam_to_world) for p in pairs],
                dtype=np.float32,
            ),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "split": self.split,
            "root": "",
            "generator_seed": self.seed,
            "num_pairs": self.num_pairs,
            "num_points": self.num_points,
            **({"yaw_strata": self.strata} if self.strata > 1 else {}),  # absent: fingerprints of old stores hold
            "generator_config": asdict(self.config),
        }

    def fingerprint(self) -> str:
        return short_hash(self.describe(), len(self))


def _open(split: str, root: str | None, image_size: tuple[int, int]) -> SyntheticPairs:
    if root:
        raise DatasetError("synthetic-pairs are generated, not read: drop --root")
    return SyntheticPairs(split, image_size)


def _open_multiview(split: str, root: str | None, image_size: tuple[int, int]) -> SyntheticPairs:
    if root:
        raise DatasetError("synthetic-multiview pairs are generated, not read: drop --root")
    return SyntheticPairs(
        split, image_size, yaw_deg=MULTIVIEW_YAW_DEG, strata=MULTIVIEW_STRATA, name="synthetic-multiview"
    )


register_dataset(
    "synthetic-pairs",
    DatasetEntry(
        factory=_open,
        description="two views of each synthetic scene with exact keypoint matches (no download)",
        tasks=("correspondence", "multiview"),
        splits=tuple(PAIR_SPLIT_SIZES),
        readme="datasets/synthetic/README.md",
        needs_root=False,
    ),
)
register_dataset(
    "synthetic-multiview",
    DatasetEntry(
        factory=_open_multiview,
        description="synthetic pairs with view changes of 0-120 degrees, spread evenly over 30-degree bins",
        tasks=("multiview", "correspondence"),
        splits=tuple(PAIR_SPLIT_SIZES),
        readme="datasets/synthetic/README.md",
        needs_root=False,
    ),
)
