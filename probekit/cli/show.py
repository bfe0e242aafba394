"""`probekit show`: pictures of dense features (correspondences, PCA, similarity, probe predictions) as PNG.

Inputs come from one of three places:
    image files      IMG ...  --backbone NAME       the images are fitted to --image-size, then encoded
    a feature store  --features STORE --index I ... the stored features; images re-rendered for the
                                                    synthetic datasets, otherwise given as IMG ...
    a synthetic pair --synthetic SEED --backbone NAME  both views of the synthetic pair SEED
Points are given in original image pixels (x,y) and mapped onto the fitted image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import typer

from probekit.cli.common import check_output, choice, fails_cleanly, in_range, parse_size, size_option
from probekit.errors import ProbekitError


show_app = typer.Typer(
    help="Pictures of dense features: correspondences, PCA maps, similarity heat maps, probe predictions (PNG).",
    no_args_is_help=True,
)

# -- options shared by the commands ------------------------------------------------------------
Images = Annotated[Optional[list[Path]], typer.Argument(help="Image files (PNG, JPEG, ...); not needed with --synthetic, or with --features of a synthetic dataset.", show_default=False)]
Backbone = Annotated[Optional[str], typer.Option(help="Backbone alias (see `probekit backbones`) or timm name that encodes the images.")]
Weights = Annotated[Optional[Path], typer.Option(help="Local .pth/.safetensors checkpoint for --backbone; no network.")]
RandomInit = Annotated[bool, typer.Option("--random-init", help="Seeded random weights for --backbone (the untrained baseline).")]
Seed = Annotated[int, typer.Option(min=0, help="Seed for --random-init.")]
ImageSize = Annotated[str, typer.Option(callback=size_option, help="Size the images are fitted to before encoding: '224' or 'HxW'; a multiple of the patch size.")]
Fit = Annotated[str, typer.Option(callback=choice("stretch", "crop", "pad"), help="How images of another shape are fitted: stretch, crop (centre) or pad.")]
Layer = Annotated[Optional[int], typer.Option(help="Block whose patch features are shown (negative counts from the end); default: the last (stored) one.")]
Norm = Annotated[bool, typer.Option("--norm/--no-norm", help="Apply the backbone's final norm to the features (DINOv2 protocol).")]
Features = Annotated[Optional[Path], typer.Option(help="Read the features from this store instead of running a backbone.")]
Index = Annotated[Optional[list[int]], typer.Option("--index", help="Sample index in --features (repeat for a second image).")]
Synthetic = Annotated[Optional[int], typer.Option(min=0, help="Render the synthetic pair with this seed instead of reading images.")]
Gap = Annotated[int, typer.Option(min=0, help="Pixels between the panels.")]


@dataclass(frozen=True)
class View:
    """One image as drawn and its patch features: image (H, W, 3) uint8 at the features' size."""

    image: Any            # np.ndarray (H, W, 3) uint8
    grid: Any             # torch.Tensor (h, w, D)
    patch: int
    pixel_map: Any        # probekit.data.geometry.PixelMap: original -> drawn pixels
    original_size: tuple[int, int]  # (H0, W0)
    name: str


@dataclass(frozen=True)
class Source:
    """Where a command's images and features come from (the options every command shares)."""

    images: list[Path]
    backbone: str | None = None
    weights: Path | None = None
    random_init: bool = False
    seed: int = 0
    image_size: str = "224"
    fit: str = "stretch"
    layer: int | None = None
    norm: bool = True
    features: Path | None = None
    indices: list[int] | None = None
    synthetic: int | None = None


# -- parsing ---------------------------------------------------------------------------------------


def parse_point(text: str) -> tuple[float, float]:
    """'120,80' -> (120.0, 80.0): x, y in original image pixels."""
    match = re.fullmatch(r"\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*", text)
    try:
        return float(match.group(1)), float(match.group(2))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        raise ProbekitError(f"bad point {text!r}: give x,y in original image pixels, e.g. 120,80") from None


def parse_points(texts: list[str]) -> list[tuple[float, float]]:
    """Points from repeated options, each value one or more 'x,y' separated by spaces or ';'."""
    return [parse_point(part) for text in texts for part in re.split(r"[;\s]+", text.strip()) if part]


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


# -- loading views ---------------------------------------------------------------------------------


def load_views(source: Source, count: int | None) -> list[View]:
    """The views a command draws: `count` of them (None = any number, at least one)."""
    chosen = [name for name, given in (("image files", bool(source.images)), ("--features", source.features),
                                       ("--synthetic", source.synthetic is not None)) if given]
    if len(chosen) > 1 and chosen != ["image files", "--features"]:
        raise ProbekitError(f"choose one input: {' or '.join(chosen)} (image files go with --features only)")
    if source.features is not None:
        views = _store_views(source)
    elif source.synthetic is not None:
        views = _synthetic_views(source)
    elif source.images:
        views = _image_views(source)
    else:
        raise ProbekitError("nothing to show: pass image files, --features STORE --index I, or --synthetic SEED")
    if count is not None and len(views) != count:
        raise ProbekitError(f"this picture needs {count} images, got {len(views)}: "
                            f"pass {count} image files or --index {count} times")
    return views


def _backbone(source: Source):
    if not source.backbone:
        raise ProbekitError("no backbone: pass --backbone NAME (see `probekit backbones`) or --features STORE")
    from probekit.backbones.hub import preflight_backbone_weights

    preflight_backbone_weights(source.backbone, str(source.weights) if source.weights else None, source.random_init)
    from probekit.backbones import build_backbone

    return build_backbone(source.backbone, source.weights, source.random_init, source.seed)


def forward(backbone, images: list[np.ndarray], layers: list[int], norm: bool) -> dict:
    """Per layer, the backbone's LayerFeatures of images of one size (uint8 (H, W, 3) each)."""
    import torch

    from probekit.features.preprocess import normalise

    x = normalise(torch.from_numpy(np.stack(images)), backbone.preprocessing)  # (B, 3, H, W)
    with torch.no_grad():
        return backbone.forward_layers(x, layers, norm)


def encode(backbone, images: list[np.ndarray], layer: int | None, norm: bool) -> list:
    """Patch grids (h, w, D) of one layer (default: the last) for images of one size."""
    from probekit.backbones import resolve_layers

    k = resolve_layers(str(-1 if layer is None else layer), backbone.depth)[0]
    return list(forward(backbone, images, [k], norm)[k].patch.float())  # B x (h, w, D)


def _check_size(size: tuple[int, int], patch: int) -> None:
    if size[0] % patch or size[1] % patch:
        fix = "x".join(str(max(patch, round(s / patch) * patch)) for s in size)
        raise ProbekitError(f"--image-size {size[0]}x{size[1]} is not a multiple of the patch size {patch}: try {fix}")


def _image_views(source: Source) -> list[View]:
    from probekit.data.geometry import fit_image
    from probekit.report.viz import read_image

    originals = [read_image(path) for path in source.images]
    backbone = _backbone(source)
    size = parse_size(source.image_size)
    _check_size(size, backbone.patch_size)
    fitted = [fit_image(image, size, source.fit, backbone.preprocessing.interpolation) for image in originals]
    grids = encode(backbone, [image for image, _ in fitted], source.layer, source.norm)
    return [View(image, grid, backbone.patch_size, pixel_map, original.shape[:2], path.name)
            for (image, pixel_map), grid, original, path in zip(fitted, grids, originals, source.images)]


def _synthetic_views(source: Source) -> list[View]:
    from probekit.data.geometry import PixelMap
    from probekit.data.synthetic import SceneConfig, render_pair

    backbone = _backbone(source)
    size = parse_size(source.image_size)
    _check_size(size, backbone.patch_size)
    pair = render_pair(source.synthetic, SceneConfig(image_size=size))
    images = [pair.view_a.image, pair.view_b.image]
    grids = encode(backbone, images, source.layer, source.norm)
    return [View(image, grid, backbone.patch_size, PixelMap.identity(), size, f"synthetic pair {source.synthetic} view {v}")
            for image, grid, v in zip(images, grids, "ab")]


def _store_views(source: Source) -> list[View]:
    import torch

    from probekit.data.geometry import PixelMap, fit_image
    from probekit.features.store import FeatureStore
    from probekit.report.viz import read_image

    store = FeatureStore(source.features)
    indices = source.indices or []
    if not indices:
        raise ProbekitError(f"which samples of {source.features}? pass --index I (repeat it for a second image)")
    layer = store.resolve_layer(source.layer)
    size = tuple(store.attrs["image_size"])
    if source.images:
        if len(source.images) != len(indices):
            raise ProbekitError(f"{len(source.images)} image files for {len(indices)} --index values: give one per index")
        originals = [read_image(path) for path in source.images]
        fitted = [fit_image(image, size, source.fit, store.attrs.get("interpolation", "bicubic")) for image in originals]
        names = [path.name for path in source.images]
    else:
        images = stored_images(store, indices)
        fitted = [(image, PixelMap.identity()) for image in images]
        originals = images
        names = [f"{store.path.name}[{i}]" for i in indices]
    patch = int(store.attrs["patch_size"])
    return [View(image, torch.from_numpy(store.read("patch", i, i + 1, layer)[0]).float(), patch, pixel_map,
                 original.shape[:2], name)
            for i, (image, pixel_map), original, name in zip(indices, fitted, originals, names)]


def stored_dataset(store):
    """The dataset a store was extracted from, re-opened when it is generated (no files needed)."""
    from probekit.data import dataset_entry, open_dataset

    name = store.attrs.get("dataset")
    try:
        needs_root = dataset_entry(name).needs_root
    except ProbekitError:
        needs_root = True
    if needs_root:
        raise ProbekitError(f"{store.path.name} holds features, not images, of dataset {name!r}: pass the image files too "
                            f"(probekit show ... IMG ... --features {store.path.name} --index I)")
    return open_dataset(name, store.attrs["split"], image_size=tuple(store.attrs["image_size"]),
                        limit=store.attrs.get("limit"), subset_seed=store.attrs.get("subset_seed"))


def stored_images(store, indices: list[int]) -> list[np.ndarray]:
    """Images of the store's samples, re-rendered from its recorded dataset settings (ids checked)."""
    dataset = stored_dataset(store)
    ids = store.ids
    images = []
    for i in indices:
        if not 0 <= i < len(store):
            raise ProbekitError(f"--index {i} is out of range: {store.path.name} holds {len(store)} samples")
        sample = dataset[i]
        if str(sample["id"]) != ids[i]:
            raise ProbekitError(f"{store.path.name}[{i}] is {ids[i]!r} but the dataset now gives {sample['id']!r}: "
                                f"re-extract the store")
        images.append(sample["image"])
    return images


def _write(figure, out: Path, what: str) -> None:
    from probekit.report.viz import write_png

    write_png(out, figure.image)
    H, W = figure.image.shape[:2]
    typer.echo(f"wrote {out} ({W}x{H}, {what})", err=True)


# -- commands --------------------------------------------------------------------------------------


@show_app.command("correspondence")
@fails_cleanly
def correspondence_command(
    images: Images = None,
    points: Annotated[Optional[list[str]], typer.Option("--points", help="Source points x,y in original pixels of the first image (repeat, or 'x,y x,y'); default: automatic confident matches.")] = None,
    num_matches: Annotated[int, typer.Option(min=1, help="Automatic matches: mutual nearest neighbours, best score per region of the first image.")] = 12,
    backbone: Backbone = None, weights: Weights = None, random_init: RandomInit = False, seed: Seed = 0,
    image_size: ImageSize = "224", fit: Fit = "stretch", layer: Layer = None, norm: Norm = True,
    features: Features = None, index: Index = None, synthetic: Synthetic = None, gap: Gap = 8,
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("correspondence.png"),
) -> None:
    """Two images side by side with lines between matched patches (cosine nearest neighbours)."""
    check_output(out, "--out", directory=False)
    from probekit.report.viz import confident_matches, correspondence_figure, match_points

    a, b = load_views(Source(images or [], backbone, weights, random_init, seed, image_size, fit, layer, norm,
                             features, index, synthetic), count=2)
    if points:
        src = np.array([to_drawn(a, p) for p in parse_points(points)])
        matches = match_points(a.grid, b.grid, src, a.patch)
    else:
        matches = confident_matches(a.grid, b.grid, a.patch, num_matches)
    figure = correspondence_figure(a.image, b.image, matches, gap)
    _write(figure, out, f"{len(matches)} matches, {int(matches.mutual.sum())} mutual")


@show_app.command("pca")
@fails_cleanly
def pca_command(
    images: Images = None,
    foreground_threshold: Annotated[Optional[float], typer.Option(help="Mask the background as in DINOv2: keep patches whose first component (scaled to 0..1) is above this, refit the PCA on them.")] = None,
    upsample: Annotated[str, typer.Option(help="How the patch maps are enlarged to the image: nearest or bilinear.")] = "nearest",
    backbone: Backbone = None, weights: Weights = None, random_init: RandomInit = False, seed: Seed = 0,
    image_size: ImageSize = "224", fit: Fit = "stretch", layer: Layer = None, norm: Norm = True,
    features: Features = None, index: Index = None, synthetic: Synthetic = None, gap: Gap = 8,
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("pca.png"),
) -> None:
    """The first three PCA components of the patch features (one fit over all images) as RGB, under the images."""
    check_output(out, "--out", directory=False)
    from probekit.report.viz import pca_figure

    views = load_views(Source(images or [], backbone, weights, random_init, seed, image_size, fit, layer, norm,
                              features, index, synthetic), count=None)
    figure = pca_figure([v.image for v in views], [v.grid for v in views], foreground_threshold, upsample, gap)
    _write(figure, out, f"{len(views)} image(s)")


@show_app.command("similarity")
@fails_cleanly
def similarity_command(
    point: Annotated[str, typer.Option(help="Source point x,y in original pixels of the first image.")],
    images: Images = None,
    cmap: Annotated[str, typer.Option(help="Colour map: turbo, viridis, magma, inferno, plasma or gray.")] = "turbo",
    alpha: Annotated[float, typer.Option(callback=in_range(0.0, 1.0), help="Opacity of the heat map over the second image (0..1).")] = 0.6,
    backbone: Backbone = None, weights: Weights = None, random_init: RandomInit = False, seed: Seed = 0,
    image_size: ImageSize = "224", fit: Fit = "stretch", layer: Layer = None, norm: Norm = True,
    features: Features = None, index: Index = None, synthetic: Synthetic = None, gap: Gap = 8,
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("similarity.png"),
) -> None:
    """Cosine similarity of the patch under --point in the first image with every patch of the second, as a heat map."""
    check_output(out, "--out", directory=False)
    source_point = parse_point(point)  # a typo fails before any image is encoded
    from probekit.report.viz import similarity_figure

    a, b = load_views(Source(images or [], backbone, weights, random_init, seed, image_size, fit, layer, norm,
                             features, index, synthetic), count=2)
    figure = similarity_figure(a.image, b.image, a.grid, b.grid, to_drawn(a, source_point), a.patch, cmap,
                               alpha, gap=gap)
    _write(figure, out, f"best match at {figure.info['best_xy'][0]:g},{figure.info['best_xy'][1]:g}")


# -- prediction ------------------------------------------------------------------------------------

def _task_prediction(head, prediction: np.ndarray, truth: np.ndarray | None, cmap: str):
    from probekit.report.viz import TaskPrediction

    settings = head.settings
    num_classes = int(settings.get("num_classes", 0)) + int(bool(settings.get("reduce_zero_label")))
    return TaskPrediction(head.task, prediction, truth, num_classes=num_classes,
                          ignore_index=settings.get("ignore_index"), cmap=cmap)


def backbone_source(result: dict[str, Any], source: Source) -> Source:
    """Image size and norm of the probe's features; the backbone too (name, weights, seed) unless one is given."""
    features = result.get("features", {})
    size = "x".join(str(s) for s in features.get("image_size") or [224, 224])
    norm = bool(features.get("norm", True))
    if source.backbone:
        return replace(source, image_size=size, norm=norm)
    info = result["backbone"]
    origin = str(info.get("weights_source") or "")
    seed = re.search(r"seed=(\d+)", str(info.get("weights_sha256")))
    return replace(source, backbone=info["backbone"], weights=Path(origin[5:]) if origin.startswith("file:") else None,
                   random_init=origin == "random-init", seed=int(seed.group(1)) if seed else 0, image_size=size, norm=norm)


def _check_backbone(head, backbone) -> None:
    trained = head.result["backbone"]
    if (backbone.name, backbone.weights_id) != (trained.get("backbone"), trained.get("weights_sha256")):
        raise ProbekitError(f"the {head.task} probe was trained on {head.result['label']} features, not "
                            f"{backbone.name} ({backbone.weights_id}): drop --backbone or pass the one it was trained on")


def _predict_images(heads, source: Source) -> list[tuple[np.ndarray, list]]:
    """Rows (image, [(head, prediction, truth)]) from image files or a synthetic scene, encoded here."""
    from probekit.data.geometry import fit_image
    from probekit.data.synthetic import SceneConfig, render_scene
    from probekit.report.predict import predict, truth_target
    from probekit.report.viz import read_image

    source = backbone_source(heads[0].result, source)
    backbone = _backbone(source)
    for head in heads:
        _check_backbone(head, backbone)
    size = parse_size(source.image_size)
    _check_size(size, backbone.patch_size)
    if source.synthetic is not None:
        scene = render_scene(source.synthetic, SceneConfig(image_size=size))
        samples = [(scene.image, {"depth": scene.depth, "mask": scene.mask})]
    else:
        samples = [(fit_image(read_image(p), size, source.fit, backbone.preprocessing.interpolation)[0], {})
                   for p in source.images]
    layers = sorted({k for head in heads for k in head.layers})
    out = forward(backbone, [image for image, _ in samples], layers, source.norm)
    rows = []
    for b, (image, truths) in enumerate(samples):
        patch = {k: out[k].patch[b].float() for k in layers}
        cls = {k: out[k].cls[b].float() for k in layers}
        rows.append((image, [(head, predict(head, patch, cls, size), truths.get(truth_target(head)))
                             for head in heads]))
    return rows


def _predict_store(heads, source: Source) -> list[tuple[np.ndarray, list]]:
    """Rows (image, [(head, prediction, truth)]) for --index samples of a store; truth from its targets."""
    from probekit.data.geometry import fit_image
    from probekit.features.store import FeatureStore
    from probekit.report.predict import predict_store, truth_target
    from probekit.report.viz import read_image

    store = FeatureStore(source.features)
    indices = source.indices or []
    if not indices:
        raise ProbekitError(f"which samples of {source.features}? pass --index I (repeat it for more rows)")
    if source.images:
        if len(source.images) != len(indices):
            raise ProbekitError(f"{len(source.images)} image files for {len(indices)} --index values: give one per index")
        size = tuple(store.attrs["image_size"])
        images = [fit_image(read_image(p), size, source.fit)[0] for p in source.images]
    else:
        images = stored_images(store, indices)
    rows = []
    for i, image in zip(indices, images):
        predictions = []
        for head in heads:
            target = truth_target(head)
            truth = store.read_target(target, i, i + 1)[0] if target in store.targets else None
            predictions.append((head, predict_store(head, store, i), truth))
        rows.append((image, predictions))
    return rows


@show_app.command("prediction")
@fails_cleanly
def prediction_command(
    results: Annotated[list[Path], typer.Option("--results", help="Results JSON of a depth or segmentation probe (repeat for both); its .safetensors must sit beside it.")],
    images: Images = None,
    backbone: Annotated[Optional[str], typer.Option(help="Backbone for image files / --synthetic; default: the one the probe was trained on.")] = None,
    weights: Weights = None, random_init: RandomInit = False, seed: Seed = 0,
    fit: Fit = "stretch", features: Features = None, index: Index = None, synthetic: Synthetic = None,
    cmap: Annotated[str, typer.Option(help="Colour map of depth: turbo, viridis, magma, inferno, plasma or gray.")] = "turbo",
    alpha: Annotated[float, typer.Option(callback=in_range(0.0, 1.0), help="Opacity of the colour maps over the image (0..1; 1 = colours only).")] = 0.7,
    gap: Gap = 8,
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("prediction.png"),
) -> None:
    """A probe's depth / segmentation predictions over the image, beside the truth (when known)."""
    check_output(out, "--out", directory=False)
    from probekit.report.predict import load_head
    from probekit.report.viz import prediction_figure

    heads = [load_head(path) for path in results]
    source = Source(images or [], backbone, weights, random_init, seed, "224", fit, None, True, features, index, synthetic)
    given = [name for name, on in (("--features", features), ("--synthetic", synthetic is not None)) if on]
    if len(given) > 1 or not (given or images):
        raise ProbekitError("choose one input: --features STORE --index I, --synthetic SEED, or image files")
    rows = _predict_store(heads, source) if features is not None else _predict_images(heads, source)
    figure = prediction_figure([(image, [_task_prediction(h, p, t, cmap) for h, p, t in preds]) for image, preds in rows],
                               alpha, gap=gap)
    _write(figure, out, f"{len(rows)} image(s), {', '.join(h.task for h in heads)}")
