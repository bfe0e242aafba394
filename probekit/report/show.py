"""The pictures of `probekit show` as a library: one function per picture, each returning a `Figure`.

Every function takes a `Source` (probekit.report.sources: image files, a feature store or a synthetic
pair, plus the backbone that encodes them) and returns the composed RGB picture; `figure.info["summary"]`
is a one-line description of what was drawn (the CLI prints it). Points are (x, y) in original image
pixels. Nothing here writes files: `probekit.report.viz.write_png(path, figure.image)` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from probekit.backbones import BackboneRecipe
from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore
from probekit.report.predict import SavedHead, load_head, predict, predict_store, truth_target
from probekit.report.sources import (
    Source,
    build_backbone_checked,
    forward,
    given_images,
    load_views,
    stored_images,
    to_drawn,
)
from probekit.report.viz import (
    Figure,
    TaskPrediction,
    confident_matches,
    correspondence_figure,
    match_points,
    pca_figure,
    prediction_figure,
    read_image,
    similarity_figure,
)

Point = tuple[float, float]
# One row of a prediction picture: the image and, per head, (head, prediction (H, W), truth (H, W) or None).
PredictionRow = tuple[np.ndarray, list[tuple[SavedHead, np.ndarray, np.ndarray | None]]]


def show_correspondence(
    source: Source, points: Sequence[Point] | None = None, num_matches: int = 12, gap: int = 8
) -> Figure:
    """Two images side by side with lines between matched patches (cosine nearest neighbours).

    `points` of the first image are matched; without them, up to `num_matches` confident mutual matches
    spread over the first image. `figure.info["matches"]` holds the Correspondences drawn.
    """
    a, b = load_views(source, count=2)
    if points:
        src = np.array([to_drawn(a, p) for p in points])  # (N, 2) drawn pixels
        matches = match_points(a.grid, b.grid, src, a.patch)
    else:
        matches = confident_matches(a.grid, b.grid, a.patch, num_matches)
    figure = correspondence_figure(a.image, b.image, matches, gap)
    figure.info["summary"] = f"{len(matches)} matches, {int(matches.mutual.sum())} mutual"
    return figure


def show_pca(
    source: Source, foreground_threshold: float | None = None, upsample: str = "nearest", gap: int = 8
) -> Figure:
    """The first three PCA components of the patch features (one fit over all images) as RGB, under the images.

    `foreground_threshold` masks the background as in DINOv2 (first component scaled to 0..1 above it,
    PCA refitted on those patches); `upsample` is nearest or bilinear.
    """
    views = load_views(source)
    figure = pca_figure([v.image for v in views], [v.grid for v in views], foreground_threshold, upsample, gap)
    figure.info["summary"] = f"{len(views)} image(s)"
    return figure


def show_similarity(source: Source, point: Point, cmap: str = "turbo", alpha: float = 0.6, gap: int = 8) -> Figure:
    """Cosine similarity of the patch under `point` of the first image with every patch of the second (heat map).

    `figure.info["best_xy"]` is the most similar point of the second image, in its drawn pixels.
    """
    a, b = load_views(source, count=2)
    figure = similarity_figure(a.image, b.image, a.grid, b.grid, to_drawn(a, point), a.patch, cmap, alpha, gap=gap)
    x, y = figure.info["best_xy"]
    figure.info["summary"] = f"best match at {x:g},{y:g}"
    return figure


def show_prediction(
    results: Sequence[str | Path], source: Source, cmap: str = "turbo", alpha: float = 0.7, gap: int = 8
) -> Figure:
    """Trained probes' depth / segmentation / normals predictions over the images, beside the truth when known.

    `results` are results JSONs of `probekit probe` (their .safetensors beside them). The images come from
    `source.features` + `source.indices` (stored features, truth from the store's targets), from a synthetic
    scene (`source.synthetic`, truth rendered with it) or from image files; the latter two are encoded by
    `source.backbone`, or by default by the backbone the probe was trained on, at its image size and norm.
    """
    heads = [load_head(path) for path in results]
    given = [
        name
        for name, on in (("--features", source.features is not None), ("--synthetic", source.synthetic is not None))
        if on
    ]
    if len(given) > 1 or not (given or source.images):
        raise ProbekitError("choose one input: --features STORE --index I, --synthetic SEED, or image files")
    rows = store_predictions(heads, source) if source.features is not None else image_predictions(heads, source)
    figure = prediction_figure(
        [(image, [task_prediction(h, p, t, cmap) for h, p, t in predictions]) for image, predictions in rows],
        alpha,
        gap=gap,
    )
    figure.info["summary"] = f"{len(rows)} image(s), {', '.join(h.task for h in heads)}"
    return figure


# -- prediction parts ------------------------------------------------------------------------------


def task_prediction(head: SavedHead, prediction: np.ndarray, truth: np.ndarray | None, cmap: str) -> TaskPrediction:
    """What the picture needs to colour one head's prediction (classes, ignored label, colour map)."""
    settings = head.settings
    num_classes = int(settings.get("num_classes", 0)) + int(bool(settings.get("reduce_zero_label")))
    return TaskPrediction(
        head.task, prediction, truth, num_classes=num_classes, ignore_index=settings.get("ignore_index"), cmap=cmap
    )


def probe_recipe(result: dict[str, Any], source: Source) -> BackboneRecipe:
    """The backbone that encodes images for a probe: the one given in `source`, else the one it was trained on."""
    if source.backbone:
        return source.recipe()
    where = f"results of the {result.get('task')} probe"
    if "extract_config" in result["backbone"]:  # recorded since results carry it: rebuilt exactly (impl included)
        return BackboneRecipe.from_store_attrs(result["backbone"], where)
    return BackboneRecipe.from_provenance(result["backbone"], where)


def probe_features(result: dict[str, Any]) -> tuple[tuple[int, int], bool]:
    """(image size (H, W), norm) of the features a probe was trained on."""
    features = result.get("features", {})
    height, width = (int(s) for s in features.get("image_size") or (224, 224))
    return (height, width), bool(features.get("norm", True))


def check_backbone(head: SavedHead, name: str, weights_id: str) -> None:
    """Refuse to predict from features of another backbone (or other weights) than the head was trained on."""
    trained = head.result["backbone"]
    if (name, weights_id) != (trained.get("backbone"), trained.get("weights_sha256")):
        raise ProbekitError(
            f"the {head.task} probe was trained on {head.result['label']} features, not "
            f"{name} ({weights_id}): drop --backbone or pass the one it was trained on"
        )


def image_predictions(heads: Sequence[SavedHead], source: Source) -> list[PredictionRow]:
    """Rows from image files or a synthetic scene, encoded here by the probes' backbone."""
    from probekit.data.geometry import fit_image
    from probekit.data.synthetic import SceneConfig, render_scene

    size, norm = probe_features(heads[0].result)
    backbone = build_backbone_checked(probe_recipe(heads[0].result, source), size)
    for head in heads:
        check_backbone(head, backbone.name, backbone.weights_id)
    samples: list[tuple[np.ndarray, dict[str, np.ndarray]]]
    if source.synthetic is not None:
        scene = render_scene(source.synthetic, SceneConfig(image_size=size))
        samples = [(scene.image, {"depth": scene.depth, "mask": scene.mask, "normals": scene.normals})]
    else:
        samples = [
            (fit_image(read_image(p), size, source.fit, backbone.preprocessing.interpolation)[0], {})
            for p in source.images
        ]
    layers = sorted({k for head in heads for k in head.layers})
    out = forward(backbone, [image for image, _ in samples], layers, norm)
    rows: list[PredictionRow] = []
    for b, (image, truths) in enumerate(samples):
        patch: dict[int, torch.Tensor] = {k: out[k].patch[b].float() for k in layers}  # (h, w, D) each
        cls: dict[int, torch.Tensor] = {k: out[k].cls[b].float() for k in layers}  # (D,) each
        rows.append(
            (image, [(head, predict(head, patch, cls, size), truths.get(truth_target(head))) for head in heads])
        )
    return rows


def store_predictions(heads: Sequence[SavedHead], source: Source) -> list[PredictionRow]:
    """Rows for the `source.indices` samples of a store; truth from its targets."""
    from probekit.data.geometry import fit_image

    assert source.features is not None
    store = FeatureStore(source.features)
    indices = list(source.indices)
    if not indices:
        raise ProbekitError(f"which samples of {source.features}? pass --index I (repeat it for more rows)")
    if source.images:
        height, width = (int(s) for s in store.attrs["image_size"])
        images = [fit_image(image, (height, width), source.fit)[0] for image in given_images(source, len(indices))]
    else:
        images = stored_images(store, indices)
    rows: list[PredictionRow] = []
    for i, image in zip(indices, images, strict=True):
        predictions = []
        for head in heads:
            target = truth_target(head)
            truth = store.read_target(target, i, i + 1)[0] if target in store.targets else None
            predictions.append((head, predict_store(head, store, i), truth))
        rows.append((image, predictions))
    return rows
