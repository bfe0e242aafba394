"""The synthetic scenes as a registered dataset: images rendered at the extraction size, all targets exact.

The original resolution is the rendered one, so the originals (mask, depth, identity pixel map) equal the
stored targets: scoring at the original resolution must give the stored score exactly (a test).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from probekit.data.base import TargetSpec
from probekit.data.geometry import PixelMap
from probekit.data.registry import DatasetEntry, register_dataset
from probekit.data.surface_normals import normals_target
from probekit.data.synthetic import SceneConfig, SyntheticScenes
from probekit.errors import DatasetError
from probekit.provenance import short_hash

SPLITS = ("train", "val", "test")
MAX_DEPTH = 20.0  # metres: the probes' depth range; rooms keep every surface well inside it


class SyntheticDataset:
    """`SyntheticScenes` with the adapter contract (targets, fingerprint, provenance)."""

    name = "synthetic"

    def __init__(self, split: str, image_size: tuple[int, int], seed: int = 0):
        if split not in SPLITS:
            raise DatasetError(f"synthetic scenes have splits {', '.join(SPLITS)}, not {split!r}")
        self.split = split
        self.config = SceneConfig(image_size=image_size)
        self.seed = seed
        self.scenes = SyntheticScenes(split=split, config=self.config, seed=seed)
        H, W = image_size
        self.targets = {
            "label": TargetSpec(
                (), "int64", {"num_classes": self.scenes.num_classes, "class_names": list(self.scenes.class_names)}
            ),
            "mask": TargetSpec(
                (H, W),
                "uint8",
                {
                    "num_classes": len(self.scenes.mask_class_names),
                    "class_names": list(self.scenes.mask_class_names),
                    "ignore_index": 255,
                },
            ),
            "depth": TargetSpec(
                (H, W),
                "float32",
                {"unit": "m", "invalid_value": 0.0, "kind": "z-depth", "min_depth": 1e-3, "max_depth": MAX_DEPTH},
            ),
            "normals": normals_target((H, W), "rendered: exact normals of the primitives and room faces"),
            "camera_K": TargetSpec((3, 3), "float32", {"convention": "pinhole intrinsics, pixel units"}),
            "cam_to_world": TargetSpec((4, 4), "float32", {"convention": "OpenCV camera (x right, y down, z forward)"}),
        }
        self.originals = ("mask", "depth")

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample: dict[str, Any] = self.scenes[index]
        original = {"shape": sample["mask"].shape, "pixel_map": PixelMap.identity().as_array()}
        return {**sample, "original": {**original, "mask": sample["mask"], "depth": sample["depth"]}}

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "split": self.split,
            "root": "",
            "generator_seed": self.seed,
            "generator_config": asdict(self.config),
        }

    def fingerprint(self) -> str:
        return short_hash(self.describe(), len(self))


def _open_synthetic(split: str, root: str | None, image_size: tuple[int, int]) -> SyntheticDataset:
    if root:
        raise DatasetError("the synthetic scenes are generated, not read: drop --root")
    return SyntheticDataset(split, image_size)


register_dataset(
    "synthetic",
    DatasetEntry(
        factory=_open_synthetic,
        description="procedural rooms with objects: scene class, semantic mask, metric depth, normals (no download)",
        tasks=("classification", "segmentation", "depth", "normals"),
        splits=SPLITS,
        readme="datasets/synthetic/README.md",
        needs_root=False,
    ),
)
