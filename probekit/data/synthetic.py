"""Procedural 3-D scenes rendered by vectorised numpy ray casting: probekit's embedded dataset.

Every scene is a room (floor, walls, ceiling or open sky) holding a few textured primitives
(spheres, boxes, vertical cylinders) lit by a directional light with cast shadows. Rendering is
deterministic from an integer seed and needs no downloads. One render yields an RGB image,
metric z-depth, exact surface normals, a semantic mask, a scene class label and the pinhole camera, so one dataset
serves classification, semantic segmentation, monocular depth, surface normals and (via `render_pair`)
two-view correspondence probes.

Difficulty by design: a class is identified only by its (shape, texture) combination; every
texture family is used by two shapes and every shape carries two texture families. Colour is a
partial cue: class k draws its hues from a band centred at k / C with half-width 1 / C, so every
hue is shared by two neighbouring classes and narrows the class down without deciding it. Sizes
come from overlapping ranges. Depth is partly readable from pixels through aerial perspective
(per-scene fog that grows with distance) besides perspective and size; fog changes only RGB.

Conventions (see datasets/synthetic/README.md):
- World: metres, y up, floor is the plane y = 0, objects cluster around the origin.
- Camera frame (OpenCV): x right, y down, z forward. `cam_to_world` maps camera to world.
- Pixels: continuous xy with x right, y down; the image's top-left corner is (0, 0), so pixel
  (row i, col j) covers [j, j+1) x [i, i+1) and its centre is (j + 0.5, i + 0.5). The principal
  point is the image centre (W/2, H/2). depth[i, j] belongs to the ray through that centre;
  look up the pixel containing xy as (floor(y), floor(x)).
- depth: z-depth (along the optical axis) in metres, 0 = invalid (sky).
- mask: 0 = background (floor, walls, ceiling, sky), k = object class k - 1 (labels 1..C).
- normals: (H, W, 3) exact unit surface normals in the OpenCV camera frame, facing the camera;
  (0, 0, 0) = invalid (sky).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from probekit.data.scenes.geometry import Camera
from probekit.data.scenes.materials import CLASS_TABLE, class_hue_band, class_names
from probekit.data.scenes.pairs import ScenePair, render_pair
from probekit.data.scenes.render import SceneSample, render_scene
from probekit.data.scenes.world import DEFAULT_CONFIG, SceneConfig
from probekit.errors import DatasetError

__all__ = [
    "CLASS_TABLE",
    "SPLIT_SIZES",
    "Camera",
    "SceneConfig",
    "ScenePair",
    "SceneSample",
    "SyntheticScenes",
    "class_hue_band",
    "class_names",
    "render_pair",
    "render_scene",
]


SPLIT_SIZES: dict[str, int] = {"train": 512, "val": 128, "test": 128}
_SPLIT_CODES: dict[str, int] = {"train": 0, "val": 1, "test": 2}


class SyntheticScenes:
    """Map-style dataset of rendered scenes (no torch needed). Item `index` of `split` is rendered
    from a seed derived from (seed, split, index), so splits are disjoint and deterministic."""

    def __init__(
        self,
        split: str = "train",
        num_samples: int | None = None,
        config: SceneConfig = DEFAULT_CONFIG,
        seed: int = 0,
    ) -> None:
        if split not in SPLIT_SIZES:
            raise DatasetError(f"synthetic split {split!r} is unknown; use one of {sorted(SPLIT_SIZES)}")
        size = SPLIT_SIZES[split] if num_samples is None else int(num_samples)
        if size < 0:
            raise DatasetError(f"synthetic num_samples={num_samples} is negative; use >= 0")
        self.split, self.config, self.seed, self._size = split, config, int(seed), size

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def class_names(self) -> list[str]:
        return class_names(self.config.num_classes)

    @property
    def mask_class_names(self) -> list[str]:
        """Names of mask labels 0..C: 'background' then the object classes."""
        return ["background", *self.class_names]

    def __len__(self) -> int:
        return self._size

    def _index(self, index: int) -> int:
        """Normalise a (possibly negative) index, IndexError when out of range."""
        if not -self._size <= index < self._size:
            raise IndexError(f"index {index} out of range for synthetic {self.split} split of {self._size}")
        return index % self._size

    def sample_seed(self, index: int) -> int:
        """The render seed of item `index`."""
        entropy = [self.seed, _SPLIT_CODES[self.split], self._index(index)]
        return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])

    def scene(self, index: int) -> SceneSample:
        """Item `index` as a SceneSample."""
        return render_scene(self.sample_seed(index), self.config)

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = self._index(index)
        s = self.scene(index)
        return {
            "id": f"synthetic-{self.split}-{index:06d}",
            "image": s.image,
            "label": s.label,
            "mask": s.mask,
            "depth": s.depth,
            "normals": s.normals,
            "camera_K": s.camera.K.astype(np.float32),
            "cam_to_world": s.camera.cam_to_world.astype(np.float32),
        }
