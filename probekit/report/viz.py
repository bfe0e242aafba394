"""Pictures of dense features: correspondences, PCA maps, similarity heat maps, probe predictions.

Every figure is a uint8 RGB array (H, W, 3) composed with numpy and OpenCV (no matplotlib), so it can
be tested pixel by pixel and written with `write_png`. Panels are laid out left to right (rows top to
bottom), padded to a common height with `gap` pixels between them; `Figure.origins` says where each
panel's top-left corner landed, so points in panel pixels can be found in the figure.

Coordinates are continuous pixels (x right, y down, the centre of pixel (i, j) at (j + .5, i + .5)),
the convention of probekit.correspondence.matching; drawing rounds them down to the pixel they fall in.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from probekit.correspondence.matching import (
    cell_to_pixel,
    match_all_cells,
    match_cells,
    pixel_to_cell,
    similarity_map,
)
from probekit.data.image_files import read_rgb
from probekit.errors import ProbekitError
from probekit.metrics.normals import valid_normal_mask
from probekit.registry import Registry

COLOUR_MAPS: Registry[int] = Registry("colour map", ProbekitError)
for _name, _code in (
    ("viridis", cv2.COLORMAP_VIRIDIS),
    ("turbo", cv2.COLORMAP_TURBO),
    ("magma", cv2.COLORMAP_MAGMA),
    ("inferno", cv2.COLORMAP_INFERNO),
    ("plasma", cv2.COLORMAP_PLASMA),
    ("gray", -1),
):
    COLOUR_MAPS.register(_name, _code)

UPSAMPLING: Registry[int] = Registry("upsampling mode", ProbekitError)
UPSAMPLING.register("nearest", cv2.INTER_NEAREST)
UPSAMPLING.register("bilinear", cv2.INTER_LINEAR)

BLACK = (0, 0, 0)
WHITE = (255, 255, 255)
CAPTION_HEIGHT = 14
# Distinct, non-black class colours (tab10 then tab20's light shades); black is kept for ignored pixels.
_PALETTE = np.array(
    [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
        (174, 199, 232),
        (255, 187, 120),
        (152, 223, 138),
        (255, 152, 150),
        (197, 176, 213),
        (196, 156, 148),
        (247, 182, 210),
        (199, 199, 199),
        (219, 219, 141),
        (158, 218, 229),
    ],
    dtype=np.uint8,
)


@dataclass(frozen=True)
class Figure:
    """A composed picture and where its panels are: origins[i] = (x, y) of panel i's top-left corner."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    origins: tuple[tuple[int, int], ...]
    info: dict[str, Any] = field(default_factory=dict)  # what was drawn (matches, ranges), for callers and tests


# ----------------------------------------------------------------------------- images in and out


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an image file (PNG, JPEG, ... anything OpenCV reads)."""
    path = Path(path)
    if not path.is_file():
        raise ProbekitError(f"image {path} does not exist: check the path")
    return read_rgb(path, apply_orientation=True)  # a truncated or corrupt file is an error naming it


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB uint8 array as PNG (maximum compression: README figures stay small)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise ProbekitError(f"cannot write {path}: use a .png path in a writable directory")
    return path


def resize_image(image: np.ndarray, size: tuple[int, int], interpolation: str = "bilinear") -> np.ndarray:
    """(H, W, C) -> (size[0], size[1], C)."""
    H, W = size
    if image.shape[:2] == (H, W):
        return image
    return cv2.resize(image, (W, H), interpolation=UPSAMPLING.get(interpolation))


# ----------------------------------------------------------------------------- colours


def colourise(
    values: np.ndarray, vmin: float, vmax: float, cmap: str = "viridis", valid: np.ndarray | None = None
) -> np.ndarray:
    """(H, W) values -> (H, W, 3) uint8 RGB on [vmin, vmax] through a colour map; invalid pixels black."""
    code = COLOUR_MAPS.get(cmap)
    t = np.clip((np.asarray(values, dtype=np.float64) - vmin) / max(vmax - vmin, 1e-12), 0.0, 1.0)
    levels = np.nan_to_num(t * 255.0).round().astype(np.uint8)  # (H, W)
    rgb = (
        np.repeat(levels[..., None], 3, axis=2)
        if code < 0
        else cv2.cvtColor(cv2.applyColorMap(levels, code), cv2.COLOR_BGR2RGB)
    )  # (H, W, 3)
    if valid is not None:
        rgb[~valid] = BLACK
    return rgb


def palette(num_classes: int) -> np.ndarray:
    """(K, 3) uint8 fixed class colours: the same class has the same colour in every figure; never black."""
    if num_classes <= len(_PALETTE):
        colours: np.ndarray = _PALETTE[:num_classes].copy()
        return colours
    extra = [colorsys.hsv_to_rgb((0.61803398875 * i) % 1.0, 0.65, 0.95) for i in range(num_classes - len(_PALETTE))]
    return np.concatenate([_PALETTE, (np.array(extra) * 255).round().astype(np.uint8)])


def label_colours(labels: np.ndarray, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """(H, W) class labels -> (H, W, 3) palette colours; the ignore index (and unknown labels) black."""
    colours = palette(num_classes)
    labels = np.asarray(labels).astype(np.int64)
    known = (labels >= 0) & (labels < num_classes)
    if ignore_index is not None:
        known &= labels != ignore_index
    rgb = np.zeros((*labels.shape, 3), dtype=np.uint8)
    rgb[known] = colours[labels[known]]
    return rgb


def match_colours(n: int) -> np.ndarray:
    """(n, 3) uint8 bright colours along the hue circle, one per match."""
    colours: np.ndarray = (
        (np.array([colorsys.hsv_to_rgb(i / max(n, 1), 0.9, 1.0) for i in range(n)]).reshape(n, 3) * 255)
        .round()
        .astype(np.uint8)
    )
    return colours


def blend(image: np.ndarray, colours: np.ndarray, alpha: float, keep: np.ndarray | None = None) -> np.ndarray:
    """alpha x colours + (1 - alpha) x image; pixels where `keep` (H, W) is False show the colours unblended."""
    mixed: np.ndarray = (
        (alpha * colours.astype(np.float32) + (1 - alpha) * image.astype(np.float32)).round().astype(np.uint8)
    )
    if keep is not None:
        mixed[~keep] = colours[~keep]
    return mixed


# ----------------------------------------------------------------------------- layout


def caption(panel: np.ndarray, text: str) -> np.ndarray:
    """The panel with a white strip above it holding `text` (clipped to the panel's width)."""
    strip = np.full((CAPTION_HEIGHT, panel.shape[1], 3), 255, dtype=np.uint8)
    cv2.putText(strip, text, (2, CAPTION_HEIGHT - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, BLACK, 1, cv2.LINE_AA)
    return np.concatenate([strip, panel], axis=0)


def compose(rows: Sequence[Sequence[np.ndarray]], gap: int = 8, fill: tuple[int, int, int] = WHITE) -> Figure:
    """Panels in rows; each row as high as its tallest panel, each column as wide as its widest; gaps between."""
    columns = max(len(row) for row in rows)
    widths = [max(row[c].shape[1] for row in rows if c < len(row)) for c in range(columns)]
    heights = [max(panel.shape[0] for panel in row) for row in rows]
    canvas = np.empty((sum(heights) + gap * (len(rows) - 1), sum(widths) + gap * (columns - 1), 3), dtype=np.uint8)
    canvas[:] = fill
    origins = []
    y = 0
    for row, height in zip(rows, heights, strict=True):
        x = 0
        for panel, width in zip(row, widths, strict=False):  # a row may have fewer panels than columns
            canvas[y : y + panel.shape[0], x : x + panel.shape[1]] = panel
            origins.append((x, y))
            x += width + gap
        y += height + gap
    return Figure(canvas, tuple(origins))


def _pixel(xy: Sequence[float], origin: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    """The integer pixel a continuous point falls in, shifted by a panel origin."""
    return math.floor(xy[0]) + origin[0], math.floor(xy[1]) + origin[1]


def _stroke(image: np.ndarray) -> tuple[int, int]:
    """Line thickness and dot radius that read well at this image size."""
    side = min(image.shape[:2])
    return max(2, round(side / 120)), max(2, round(side / 64))


def mark(image: np.ndarray, xy: Sequence[float], colour: Sequence[int], radius: int | None = None) -> np.ndarray:
    """A filled dot with a black outline at continuous point xy (drawn in place; returns the image)."""
    _thickness, dot = _stroke(image)
    radius = radius or dot + 1
    centre = _pixel(xy)
    cv2.circle(image, centre, radius + 1, BLACK, -1, cv2.LINE_AA)
    cv2.circle(image, centre, radius, tuple(int(c) for c in colour), -1, cv2.LINE_AA)
    return image


# ----------------------------------------------------------------------------- correspondences


@dataclass(frozen=True)
class Correspondences:
    """N matches between image A and image B in the images' pixels (the images the features were made from)."""

    src_xy: np.ndarray  # (N, 2) float x, y in image A
    trg_xy: np.ndarray  # (N, 2) float x, y in image B
    score: np.ndarray  # (N,) cosine similarity
    mutual: np.ndarray  # (N,) bool: mutual nearest neighbours

    def __len__(self) -> int:
        return len(self.src_xy)


def match_points(
    grid_a: torch.Tensor, grid_b: torch.Tensor, points_xy: np.ndarray, patch: int, convention: str = "centre"
) -> Correspondences:
    """Nearest neighbours in B (h', w', D) of the patches under points (N, 2) of A (h, w, D)."""
    points = torch.as_tensor(np.asarray(points_xy, dtype=np.float32)).reshape(-1, 2)  # (N, 2)
    cells = pixel_to_cell(points, patch, (grid_a.shape[0], grid_a.shape[1]))  # (N,)
    matches = match_cells(grid_a, grid_b, cells)
    return Correspondences(
        points.numpy(),
        cell_to_pixel(matches.cell_xy, patch, convention).numpy(),
        matches.score.numpy(),
        matches.mutual.numpy(),
    )


def confident_matches(
    grid_a: torch.Tensor, grid_b: torch.Tensor, patch: int, num: int, convention: str = "centre"
) -> Correspondences:
    """Up to `num` mutual nearest-neighbour matches, spread over A: the best-scoring one per region of a
    ceil(sqrt(num)) x ceil(sqrt(num)) partition of A's grid, then the `num` best of those."""
    h, w = grid_a.shape[:2]
    cells, matches = match_all_cells(grid_a, grid_b)
    side = math.ceil(math.sqrt(max(num, 1)))
    region = (torch.div(cells, w, rounding_mode="floor") * side // h) * side + (cells % w) * side // w  # (h*w,)
    score = torch.where(matches.mutual, matches.score, torch.full_like(matches.score, -math.inf))
    best: dict[int, int] = {}
    for i in torch.argsort(score, descending=True, stable=True).tolist():
        if matches.mutual[i] and int(region[i]) not in best:
            best[int(region[i])] = i
    chosen = sorted(best.values(), key=lambda i: (-float(score[i]), i))[:num]
    keep = torch.tensor(chosen, dtype=torch.long)
    src_cells = torch.stack([cells[keep] % w, torch.div(cells[keep], w, rounding_mode="floor")], dim=1).float()
    return Correspondences(
        cell_to_pixel(src_cells, patch, convention).numpy().reshape(-1, 2),
        cell_to_pixel(matches.cell_xy[keep], patch, convention).numpy().reshape(-1, 2),
        matches.score[keep].numpy(),
        matches.mutual[keep].numpy(),
    )


def correspondence_figure(image_a: np.ndarray, image_b: np.ndarray, matches: Correspondences, gap: int = 8) -> Figure:
    """A and B side by side (padded to one height), a coloured line and two dots per match.

    Lines are drawn first, then the dots, so every end point stays visible.
    """
    figure = compose([[image_a, image_b]], gap)
    canvas = figure.image
    thickness, radius = _stroke(min(image_a, image_b, key=lambda image: min(image.shape[:2])))
    colours = match_colours(len(matches))
    ends = [
        (_pixel(a, figure.origins[0]), _pixel(b, figure.origins[1]))
        for a, b in zip(matches.src_xy, matches.trg_xy, strict=True)
    ]
    for (pa, pb), colour in zip(ends, colours, strict=True):
        cv2.line(canvas, pa, pb, tuple(int(c) for c in colour), thickness, cv2.LINE_AA)
    for (pa, pb), colour in zip(ends, colours, strict=True):
        for p in (pa, pb):
            cv2.circle(canvas, p, radius + 1, BLACK, -1, cv2.LINE_AA)
            cv2.circle(canvas, p, radius, tuple(int(c) for c in colour), -1, cv2.LINE_AA)
    return Figure(canvas, figure.origins, {"matches": matches, "colours": colours, "ends": ends})


# ----------------------------------------------------------------------------- PCA


@dataclass(frozen=True)
class PcaMaps:
    """Per image: the first three components as RGB in [0, 1] (h, w, 3), and the foreground (h, w) if masked."""

    rgb: list[np.ndarray]
    foreground: list[np.ndarray] | None


def fit_pca(x: torch.Tensor, k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and the first k principal axes (k, D) of x (N, D), by exact SVD (deterministic).

    Each axis' sign is fixed so that its largest-magnitude loading is positive.
    """
    mean = x.mean(dim=0)  # (D,)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)  # (min(N, D), D)
    axes = vh[:k]
    signs = torch.sign(axes.gather(1, axes.abs().argmax(dim=1, keepdim=True)))  # (k, 1)
    return mean, axes * torch.where(signs == 0, torch.ones_like(signs), signs)


def scale_components(
    values: torch.Tensor, percentiles: tuple[float, float] = (1.0, 99.0), reference: torch.Tensor | None = None
) -> torch.Tensor:
    """(N, k) -> [0, 1] per component: the percentiles of `reference` (default values) map to 0 and 1."""
    reference = values if reference is None else reference
    lo = torch.quantile(reference, percentiles[0] / 100, dim=0)  # (k,)
    hi = torch.quantile(reference, percentiles[1] / 100, dim=0)
    return ((values - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)


def _project(x: torch.Tensor, mean: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """(N, D) -> (N, 3) coordinates on the axes; zeros for axes the data does not have (rank < 3)."""
    coords = (x - mean) @ axes.T  # (N, k)
    return torch.nn.functional.pad(coords, (0, 3 - coords.shape[1]))


def _border(h: int, w: int) -> torch.Tensor:
    """(h*w,) bool: cells on the grid's border."""
    edge = torch.zeros(h, w, dtype=torch.bool)
    edge[0], edge[-1], edge[:, 0], edge[:, -1] = True, True, True, True
    return edge.reshape(-1)


def foreground_masks(
    grids: Sequence[torch.Tensor], threshold: float, percentiles: tuple[float, float] = (1.0, 99.0)
) -> list[np.ndarray]:
    """DINOv2's foreground: the first component of a PCA over all patches, scaled to [0, 1], above `threshold`.

    The component's sign is arbitrary; it is oriented so that image borders score lower than interiors
    (objects are rarely cut by every border), which makes the foreground the side that holds the centre.
    """
    x = torch.cat([g.reshape(-1, g.shape[-1]).float() for g in grids])  # (N, D)
    mean, axes = fit_pca(x, 1)
    first = (x - mean) @ axes[0]  # (N,)
    border = torch.cat([_border(*g.shape[:2]) for g in grids])
    if (~border).any() and first[border].mean() > first[~border].mean():
        first = -first
    scaled = scale_components(first[:, None], percentiles)[:, 0]
    sizes = [g.shape[0] * g.shape[1] for g in grids]
    return [m.reshape(g.shape[:2]).numpy() for m, g in zip(torch.split(scaled > threshold, sizes), grids, strict=True)]


def pca_maps(
    grids: Sequence[torch.Tensor],
    foreground_threshold: float | None = None,
    percentiles: tuple[float, float] = (1.0, 99.0),
) -> PcaMaps:
    """First three components of all images' patches (one joint fit) as RGB, per component scaled.

    With a threshold, DINOv2's recipe: foreground from the first component, PCA refitted on the
    foreground patches only, background shown black.
    """
    x = torch.cat([g.reshape(-1, g.shape[-1]).float() for g in grids])  # (N, D)
    masks = foreground_masks(grids, foreground_threshold, percentiles) if foreground_threshold is not None else None
    keep = (
        torch.from_numpy(np.concatenate([m.reshape(-1) for m in masks]))
        if masks
        else torch.ones(len(x), dtype=torch.bool)
    )
    if not keep.any():
        raise ProbekitError(f"no patch is above --foreground-threshold {foreground_threshold}: lower it (try 0.5)")
    mean, axes = fit_pca(x[keep], 3)
    coords = _project(x, mean, axes)  # (N, 3)
    rgb = scale_components(coords, percentiles, reference=coords[keep])  # (N, 3) in [0, 1]
    rgb[~keep] = 0
    sizes = [g.shape[0] * g.shape[1] for g in grids]
    rgb_maps = [c.reshape(*g.shape[:2], 3).numpy() for c, g in zip(torch.split(rgb, sizes), grids, strict=True)]
    return PcaMaps(rgb_maps, masks)


def pca_figure(
    images: Sequence[np.ndarray],
    grids: Sequence[torch.Tensor],
    foreground_threshold: float | None = None,
    upsample: str = "nearest",
    gap: int = 8,
) -> Figure:
    """Images on the top row, their PCA maps (upsampled to each image's size) below."""
    maps = pca_maps(grids, foreground_threshold)
    panels = [
        resize_image((rgb * 255).round().astype(np.uint8), image.shape[:2], upsample)
        for rgb, image in zip(maps.rgb, images, strict=True)
    ]
    figure = compose([list(images), panels], gap)
    return Figure(figure.image, figure.origins, {"pca": maps})


# ----------------------------------------------------------------------------- similarity


def similarity_heatmap(
    grid_a: torch.Tensor, grid_b: torch.Tensor, point_xy: Sequence[float], patch: int
) -> tuple[np.ndarray, int]:
    """Cosine similarity (h', w') of the patch of A under point_xy with every patch of B, and that patch's flat
    index."""
    point = torch.tensor([point_xy], dtype=torch.float32)  # (1, 2)
    cell = int(pixel_to_cell(point, patch, (grid_a.shape[0], grid_a.shape[1]))[0])
    return similarity_map(grid_a, grid_b, cell).numpy(), cell


def similarity_figure(
    image_a: np.ndarray,
    image_b: np.ndarray,
    grid_a: torch.Tensor,
    grid_b: torch.Tensor,
    point_xy: Sequence[float],
    patch: int,
    cmap: str = "turbo",
    alpha: float = 0.6,
    upsample: str = "bilinear",
    gap: int = 8,
) -> Figure:
    """Source image with the point marked | target image under the heat map (min-max over the map),
    its best match marked."""
    sim, cell = similarity_heatmap(grid_a, grid_b, point_xy, patch)
    _h2, w2 = sim.shape
    heat = resize_image(sim.astype(np.float32), image_b.shape[:2], upsample)  # (H', W')
    overlay = blend(image_b, colourise(heat, float(sim.min()), float(sim.max()), cmap), alpha)
    best = int(sim.argmax())
    best_xy = cell_to_pixel(torch.tensor([[best % w2, best // w2]], dtype=torch.float32), patch)[0].tolist()
    source = mark(image_a.copy(), point_xy, WHITE)
    figure = compose([[source, mark(overlay, best_xy, WHITE)]], gap)
    return Figure(
        figure.image, figure.origins, {"similarity": sim, "source_cell": cell, "best_cell": best, "best_xy": best_xy}
    )


# ----------------------------------------------------------------------------- probe predictions


@dataclass(frozen=True)
class TaskPrediction:
    """One task's prediction for an image, with the truth when known and what is needed to colour it."""

    task: str  # 'depth' | 'segmentation' | 'normals'
    prediction: np.ndarray  # (H, W) metres or labels; (H, W, 3) unit normals
    truth: np.ndarray | None = None  # same layout and units; depth 0 = invalid, labels == ignore_index ignored,
    # normals (0, 0, 0) = invalid
    num_classes: int = 0  # segmentation
    ignore_index: int | None = 255  # segmentation
    cmap: str = "turbo"  # depth


def depth_range(prediction: TaskPrediction) -> tuple[float, float]:
    """The colour range shared by truth and prediction: min and max over the valid truth and the prediction."""
    values = [prediction.prediction.ravel()]
    if prediction.truth is not None:
        values.append(prediction.truth[prediction.truth > 0])
    stacked = np.concatenate(values)
    return float(stacked.min()), float(stacked.max())


def _depth_panels(image: np.ndarray, p: TaskPrediction, alpha: float) -> list[tuple[str, np.ndarray]]:
    vmin, vmax = depth_range(p)
    panels = []
    if p.truth is not None:
        valid = p.truth > 0
        panels.append(("depth truth", blend(image, colourise(p.truth, vmin, vmax, p.cmap, valid), alpha, keep=valid)))
    panels.append(("depth probe", blend(image, colourise(p.prediction, vmin, vmax, p.cmap), alpha)))
    return panels


def _segmentation_panels(image: np.ndarray, p: TaskPrediction, alpha: float) -> list[tuple[str, np.ndarray]]:
    def overlay(labels: np.ndarray) -> np.ndarray:
        labels = np.asarray(labels)
        known = (labels >= 0) & (labels < p.num_classes) & (labels != p.ignore_index)
        return blend(image, label_colours(labels, p.num_classes, p.ignore_index), alpha, keep=known)

    panels = [("seg truth", overlay(p.truth))] if p.truth is not None else []
    return [*panels, ("seg probe", overlay(p.prediction))]


def normal_colours(normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) camera-frame normals (x right, y down, z forward) -> ((H, W, 3) uint8 RGB, (H, W) valid): the
    usual normal-map colouring RGB = (n + 1) / 2 of the unit vector; zero-length (invalid) pixels black."""
    n = np.asarray(normals, dtype=np.float32)
    valid = valid_normal_mask(torch.from_numpy(n).permute(2, 0, 1)[None])[0].numpy()  # (H, W): the metrics' rule
    length = np.sqrt((n * n).sum(-1))  # (H, W)
    unit = np.where(valid[..., None], n / np.maximum(length, 1e-12)[..., None], 0.0)
    rgb = np.where(valid[..., None], (unit + 1.0) * 127.5, 0.0).round().clip(0, 255).astype(np.uint8)
    return rgb, valid


def _normals_panels(image: np.ndarray, p: TaskPrediction, alpha: float) -> list[tuple[str, np.ndarray]]:
    panels = []
    if p.truth is not None:
        colours, valid = normal_colours(p.truth)
        panels.append(("normals truth", blend(image, colours, alpha, keep=valid)))
    colours, valid = normal_colours(p.prediction)
    return [*panels, ("normals probe", blend(image, colours, alpha, keep=valid))]


PanelsFn = Callable[[np.ndarray, TaskPrediction, float], list[tuple[str, np.ndarray]]]  # (image, prediction, alpha)
PREDICTION_PANELS: Registry[PanelsFn] = Registry("prediction picture", ProbekitError)
PREDICTION_PANELS.register("depth", _depth_panels)
PREDICTION_PANELS.register("segmentation", _segmentation_panels)
PREDICTION_PANELS.register("normals", _normals_panels)


def prediction_panels(
    image: np.ndarray, predictions: Sequence[TaskPrediction], alpha: float = 0.7
) -> list[tuple[str, np.ndarray]]:
    """(caption, panel) for the image and each task's truth and prediction, colour-mapped over the image."""
    panels = [("image", image)]
    for p in predictions:
        if p.prediction.shape[:2] != image.shape[:2]:
            raise ProbekitError(
                f"{p.task} prediction is {p.prediction.shape[:2]}, the image {image.shape[:2]}: resize one"
            )
        panels += PREDICTION_PANELS.get(p.task)(image, p, alpha)
    return panels


def prediction_figure(
    rows: Sequence[tuple[np.ndarray, Sequence[TaskPrediction]]], alpha: float = 0.7, captions: bool = True, gap: int = 8
) -> Figure:
    """One row per image: image | depth truth | depth probe | seg truth | seg probe | normals truth | normals probe
    (what is available).

    Depth shares one colour range per row; segmentation uses the fixed palette, ignored pixels black.
    """
    grid = []
    for image, predictions in rows:
        panels = prediction_panels(image, predictions, alpha)
        grid.append([caption(panel, text) if captions else panel for text, panel in panels])
    figure = compose(grid, gap)
    return Figure(figure.image, figure.origins, {"captions": CAPTION_HEIGHT if captions else 0})
