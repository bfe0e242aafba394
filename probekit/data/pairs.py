"""Image pairs with annotated keypoints: the dataset-level table the correspondence task reads.

A correspondence dataset yields each image once (SPair-71k reuses an image in many pairs) and
exposes `dataset.pair_table`, a `PairTable` that indexes those images. Keypoints and boxes are in
*original* image pixels (continuous coordinates, x right, y down); each image's `pixel_map` target
(probekit.data.geometry) maps them onto the stored, resized image. PCK thresholds are measured in
original target pixels, as the benchmarks define them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import h5py
import numpy as np

from probekit.errors import DatasetError, StoreError
from probekit.h5attrs import read_attrs, write_attrs

PCK_REFERENCES = ("bbox", "image")  # SPair-71k: max side of the target box; PF-PASCAL: max image side
_ARRAYS = ("src", "trg", "src_kps", "trg_kps", "src_bbox", "trg_bbox")


@dataclass(frozen=True, eq=False)
class PairTable:
    """P pairs over the images of one dataset split; K = the most keypoints any pair has.

    src, trg:           (P,) int64 indices of the source and target image in dataset order
    src_kps, trg_kps:   (P, K, 2) float32 x, y in original pixels; NaN rows pad pairs with fewer points
    src_bbox, trg_bbox: (P, 4) float32 x1, y1, x2, y2 in original pixels (NaN when unknown)
    ids, categories:    (P,) names of the pairs and their object category
    pck_reference:      'bbox' or 'image': what α is multiplied with by default
    rotation_deg:       (P,) float32 geodesic angle of each pair's relative camera rotation, in degrees, where
                        the cameras are known (multi-view datasets); None otherwise (stores written before it)
    """

    ids: Sequence[str]
    src: np.ndarray
    trg: np.ndarray
    src_kps: np.ndarray
    trg_kps: np.ndarray
    src_bbox: np.ndarray
    trg_bbox: np.ndarray
    categories: Sequence[str]
    pck_reference: str = "bbox"
    attrs: Mapping[str, Any] = field(default_factory=dict)
    rotation_deg: np.ndarray | None = None

    def __post_init__(self) -> None:
        P = len(self.ids)
        for name in self.array_names():
            if len(getattr(self, name)) != P:
                raise DatasetError(f"pair table: {name} has {len(getattr(self, name))} rows for {P} pairs")
        if len(self.categories) != P:
            raise DatasetError(f"pair table: {len(self.categories)} categories for {P} pairs")
        if self.src_kps.shape != self.trg_kps.shape or self.src_kps.shape[-1:] != (2,):
            raise DatasetError(
                f"pair table: keypoints {self.src_kps.shape} vs {self.trg_kps.shape}, want (P, K, 2) both"
            )
        if self.pck_reference not in PCK_REFERENCES:
            raise DatasetError(f"pair table: pck_reference {self.pck_reference!r} is not one of {PCK_REFERENCES}")

    def __len__(self) -> int:
        return len(self.ids)

    def array_names(self) -> tuple[str, ...]:
        """The per-pair arrays this table holds (rotation_deg only where known)."""
        return (*_ARRAYS, "rotation_deg") if self.rotation_deg is not None else _ARRAYS

    def take(self, rows: np.ndarray) -> dict[str, Any]:
        """The per-pair fields of `rows` (image indices unchanged), as keyword arguments of `dataclasses.replace`."""
        return {
            "ids": [self.ids[r] for r in rows],
            "categories": [self.categories[r] for r in rows],
            **{name: getattr(self, name)[rows] for name in self.array_names()},
        }

    @property
    def valid(self) -> np.ndarray:
        """(P, K) bool: keypoint k of pair p is annotated in both images."""
        valid: np.ndarray = ~(np.isnan(self.src_kps).any(-1) | np.isnan(self.trg_kps).any(-1))
        return valid

    def digest(self) -> str:
        """A hash of the table's contents (ids, images, keypoints, boxes, categories)."""
        digest = hashlib.sha256(json.dumps([list(self.ids), list(self.categories)]).encode())
        for array in (getattr(self, name) for name in self.array_names()):  # old tables (no angles) keep their digest
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]

    def restrict(self, images: np.ndarray) -> PairTable:
        """The pairs whose two images are both in `images` (sorted dataset indices), re-indexed to them."""
        position = {int(i): n for n, i in enumerate(images)}
        keep = [p for p in range(len(self)) if int(self.src[p]) in position and int(self.trg[p]) in position]
        rows = np.asarray(keep, dtype=np.int64)
        return replace(
            self,
            **{
                **self.take(rows),
                "src": np.array([position[int(self.src[p])] for p in keep], dtype=np.int64),
                "trg": np.array([position[int(self.trg[p])] for p in keep], dtype=np.int64),
            },
        )


def pad_keypoints(points: Sequence[np.ndarray]) -> np.ndarray:
    """A list of (K_p, 2) arrays -> (P, max K_p, 2) float32, NaN-padded."""
    K = max((len(p) for p in points), default=0)
    out = np.full((len(points), K, 2), np.nan, dtype=np.float32)
    for row, p in enumerate(points):
        out[row, : len(p)] = np.asarray(p, dtype=np.float32).reshape(-1, 2)
    return out


def write_pairs(f: h5py.File, table: PairTable) -> None:
    """Store `table` under /pairs of an open store file."""
    group = f.create_group("pairs")
    group.create_dataset("ids", data=np.asarray(table.ids, dtype=object), dtype=h5py.string_dtype())
    group.create_dataset("categories", data=np.asarray(table.categories, dtype=object), dtype=h5py.string_dtype())
    for name in table.array_names():
        group.create_dataset(name, data=getattr(table, name))
    write_attrs(group, dict(table.attrs, pck_reference=table.pck_reference, num_pairs=len(table)))


def read_pairs(f: h5py.File, path: str = "store") -> PairTable:
    """The table under /pairs, or a StoreError saying the store was extracted from a dataset without pairs."""
    if "pairs" not in f:
        raise StoreError(
            f"{path} has no image pairs: extract a correspondence dataset "
            f"(e.g. --dataset synthetic-pairs, spair, pfpascal)"
        )
    group = f["pairs"]
    attrs = read_attrs(group)

    def text(values: np.ndarray) -> list[str]:
        return [v.decode() if isinstance(v, bytes) else str(v) for v in values]

    return PairTable(
        ids=text(group["ids"][:]),
        categories=text(group["categories"][:]),
        **{name: group[name][:] for name in _ARRAYS},
        rotation_deg=group["rotation_deg"][:] if "rotation_deg" in group else None,  # older stores have none
        pck_reference=attrs.pop("pck_reference"),
        attrs={k: v for k, v in attrs.items() if k != "num_pairs"},
    )
