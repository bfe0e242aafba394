"""Where the pictures of `probekit show` get their images and patch features from.

Three places, chosen by the fields of a `Source`:
    image files      images + backbone      the images are fitted to image_size, then encoded
    a feature store  features + indices     the stored features; images re-rendered for the generated
                                            datasets, otherwise given as image files (one per index)
    a synthetic pair synthetic + backbone   both views of the synthetic pair with that seed
Points are given in original image pixels (x, y) and mapped onto the fitted image (`to_drawn`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from probekit.backbones import BackboneRecipe
from probekit.backbones.base import Backbone, LayerFeatures
from probekit.data.geometry import PixelMap
from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore


@dataclass(frozen=True)
class View:
    """One image as drawn and its patch features; the image has the size the features were made at."""

    image: np.ndarray  # (H, W, 3) uint8
    grid: torch.Tensor  # (h, w, D) float32
    patch: int
    pixel_map: PixelMap  # original -> drawn pixels
    original_size: tuple[int, int]  # (H0, W0)
    name: str


@dataclass(frozen=True)
class Source:
    """Where a picture's images and features come from (the options every `show` command shares)."""

    images: Sequence[Path] = ()
    backbone: str | None = None
    weights: Path | None = None
    random_init: bool = False
    seed: int = 0
    image_size: tuple[int, int] = (224, 224)  # (H, W) the images are fitted to before encoding
    fit: str = "stretch"  # stretch, crop or pad
    layer: int | None = None  # None = the last (stored) block
    norm: bool = True
    features: Path | None = None
    indices: Sequence[int] = field(default_factory=tuple)
    synthetic: int | None = None

    def recipe(self) -> BackboneRecipe:
        """The backbone that encodes image files and synthetic scenes; error when none is named."""
        if not self.backbone:
            raise ProbekitError("no backbone: pass --backbone NAME (see `probekit backbones`) or --features STORE")
        return BackboneRecipe(self.backbone, str(self.weights) if self.weights else None, self.random_init, self.seed)


# -- points ----------------------------------------------------------------------------------------


def to_drawn(view: View, point: tuple[float, float]) -> tuple[float, float]:
    """An original-pixel point on the drawn (fitted) image; error when it is outside either."""
    H0, W0 = view.original_size
    x, y = point
    if not (0 <= x < W0 and 0 <= y < H0):
        raise ProbekitError(f"point {x:g},{y:g} is outside {view.name} ({W0}x{H0} pixels, x < {W0}, y < {H0})")
    xs, ys = view.pixel_map.to_stored(np.array([x, y]))
    H, W = view.image.shape[:2]
    if not (0 <= xs < W and 0 <= ys < H):
        raise ProbekitError(f"point {x:g},{y:g} of {view.name} is cropped away by --fit crop: use --fit stretch or pad")
    return float(xs), float(ys)


# -- encoding --------------------------------------------------------------------------------------


def build_backbone_checked(recipe: BackboneRecipe, image_size: tuple[int, int]) -> Backbone:
    """The recipe's backbone, once `image_size` is known to be a multiple of its patch size."""
    backbone = recipe.build()
    check_size(image_size, backbone.patch_size)
    return backbone


def check_size(size: tuple[int, int], patch: int) -> None:
    """Error (with the nearest fitting size) when `size` is not a multiple of the patch size."""
    if size[0] % patch or size[1] % patch:
        fix = "x".join(str(max(patch, round(s / patch) * patch)) for s in size)
        raise ProbekitError(f"--image-size {size[0]}x{size[1]} is not a multiple of the patch size {patch}: try {fix}")


def forward(
    backbone: Backbone, images: Sequence[np.ndarray], layers: list[int], norm: bool
) -> dict[int, LayerFeatures]:
    """Per layer, the backbone's LayerFeatures of images of one size (uint8 (H, W, 3) each)."""
    from probekit.features.preprocess import normalise

    x = normalise(torch.from_numpy(np.stack(images)), backbone.preprocessing)  # (B, 3, H, W)
    with torch.no_grad():
        return backbone.forward_layers(x, layers, norm)


def encode(backbone: Backbone, images: Sequence[np.ndarray], layer: int | None, norm: bool) -> list[torch.Tensor]:
    """Patch grids (h, w, D) of one layer (default: the last) for images of one size."""
    k = layer_index(backbone, layer)
    return list(forward(backbone, images, [k], norm)[k].patch.float())  # B x (h, w, D)


def layer_index(backbone: Backbone, layer: int | None) -> int:
    """The absolute index of `layer` (default: the last)."""
    from probekit.backbones.layers import resolve_layers

    return resolve_layers(str(-1 if layer is None else layer), backbone.depth)[0]


def layer_stride(backbone: Backbone, layer: int | None) -> int:
    """Image pixels per grid cell of the drawn layer: the patch size, or a feature-map stage's stride."""
    return backbone.layer_stride(layer_index(backbone, layer))


# -- views -----------------------------------------------------------------------------------------


def load_views(source: Source, count: int | None = None) -> list[View]:
    """The views a picture draws: `count` of them (None = any number, at least one)."""
    chosen = [
        name
        for name, given in (
            ("image files", bool(source.images)),
            ("--features", source.features),
            ("--synthetic", source.synthetic is not None),
        )
        if given
    ]
    if len(chosen) > 1 and chosen != ["image files", "--features"]:
        raise ProbekitError(f"choose one input: {' or '.join(chosen)} (image files go with --features only)")
    if source.features is not None:
        views = store_views(source)
    elif source.synthetic is not None:
        views = synthetic_views(source)
    elif source.images:
        views = image_views(source)
    else:
        raise ProbekitError("nothing to show: pass image files, --features STORE --index I, or --synthetic SEED")
    if count is not None and len(views) != count:
        raise ProbekitError(
            f"this picture needs {count} images, got {len(views)}: pass {count} image files or --index {count} times"
        )
    return views


def image_views(source: Source) -> list[View]:
    """Image files fitted to `source.image_size` and encoded by its backbone."""
    from probekit.data.geometry import fit_image
    from probekit.report.viz import read_image

    originals = [read_image(path) for path in source.images]
    backbone = build_backbone_checked(source.recipe(), source.image_size)
    fitted = [
        fit_image(image, source.image_size, source.fit, backbone.preprocessing.interpolation) for image in originals
    ]
    grids = encode(backbone, [image for image, _ in fitted], source.layer, source.norm)
    return [
        View(image, grid, layer_stride(backbone, source.layer), pixel_map, original.shape[:2], path.name)
        for (image, pixel_map), grid, original, path in zip(fitted, grids, originals, source.images, strict=True)
    ]


def synthetic_views(source: Source) -> list[View]:
    """Both views of the synthetic pair `source.synthetic`, rendered at `source.image_size` and encoded."""
    from probekit.data.synthetic import SceneConfig, render_pair

    assert source.synthetic is not None
    backbone = build_backbone_checked(source.recipe(), source.image_size)
    pair = render_pair(source.synthetic, SceneConfig(image_size=source.image_size))
    images = [pair.view_a.image, pair.view_b.image]
    grids = encode(backbone, images, source.layer, source.norm)
    return [
        View(
            image,
            grid,
            layer_stride(backbone, source.layer),
            PixelMap.identity(),
            source.image_size,
            f"synthetic pair {source.synthetic} view {v}",
        )
        for image, grid, v in zip(images, grids, "ab", strict=True)
    ]


def store_views(source: Source) -> list[View]:
    """The stored features of `source.indices`, drawn over the given image files or the re-rendered samples."""
    from probekit.data.geometry import fit_image

    assert source.features is not None
    store = FeatureStore(source.features)
    indices = list(source.indices)
    if not indices:
        raise ProbekitError(f"which samples of {source.features}? pass --index I (repeat it for a second image)")
    layer = store.resolve_layer(source.layer)
    if source.images:
        originals = given_images(source, len(indices))
        fitted = [
            fit_image(image, _store_size(store), source.fit, store.attrs.get("interpolation", "bicubic"))
            for image in originals
        ]
        names = [path.name for path in source.images]
    else:
        originals = stored_images(store, indices)
        fitted = [(image, PixelMap.identity()) for image in originals]
        names = [f"{store.path.name}[{i}]" for i in indices]
    patch = store.stride_of(layer)
    return [
        View(
            image,
            torch.from_numpy(store.read("patch", i, i + 1, layer)[0]).float(),
            patch,
            pixel_map,
            original.shape[:2],
            name,
        )
        for i, (image, pixel_map), original, name in zip(indices, fitted, originals, names, strict=True)
    ]


def given_images(source: Source, count: int) -> list[np.ndarray]:
    """The image files given for `count` store samples (one per --index), read."""
    from probekit.report.viz import read_image

    if len(source.images) != count:
        raise ProbekitError(f"{len(source.images)} image files for {count} --index values: give one per index")
    return [read_image(path) for path in source.images]


def _store_size(store: FeatureStore) -> tuple[int, int]:
    height, width = (int(s) for s in store.attrs["image_size"])
    return height, width


def stored_dataset(store: FeatureStore) -> Any:
    """The dataset a store was extracted from, re-opened when it is generated (no files needed)."""
    from probekit.data import dataset_entry, open_dataset

    name = str(store.attrs.get("dataset", ""))
    try:
        needs_root = dataset_entry(name).needs_root
    except ProbekitError:
        needs_root = True
    if needs_root:
        raise ProbekitError(
            f"{store.path.name} holds features, not images, of dataset {name!r}: pass the image "
            f"files too (probekit show ... IMG ... --features {store.path.name} --index I)"
        )
    return open_dataset(
        name,
        store.attrs["split"],
        image_size=_store_size(store),
        limit=store.attrs.get("limit"),
        subset_seed=store.attrs.get("subset_seed"),
    )


def stored_images(store: FeatureStore, indices: Sequence[int]) -> list[np.ndarray]:
    """Images of the store's samples, re-rendered from its recorded dataset settings (ids checked)."""
    dataset = stored_dataset(store)
    ids = store.ids
    images = []
    for i in indices:
        if not 0 <= i < len(store):
            raise ProbekitError(f"--index {i} is out of range: {store.path.name} holds {len(store)} samples")
        sample = dataset[i]
        if str(sample["id"]) != ids[i]:
            raise ProbekitError(
                f"{store.path.name}[{i}] is {ids[i]!r} but the dataset now gives {sample['id']!r}: re-extract the store"
            )
        images.append(sample["image"])
    return images
