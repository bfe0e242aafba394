"""Figures from features whose answer is known: sizes, drawn matches, PCA codes, similarity maxima, overlays."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from probekit.correspondence.matching import cell_to_pixel, match_cells, pixel_to_cell
from probekit.errors import ProbekitError
from probekit.report import viz

GREY = 128


def _grey(h: int, w: int) -> np.ndarray:
    return np.full((h, w, 3), GREY, dtype=np.uint8)


def _grid(h: int, w: int, d: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(h, w, d)).astype(np.float32))


# -- layout and colours ----------------------------------------------------------------------------


def test_compose_pads_panels_and_reports_origins():
    figure = viz.compose([[_grey(40, 50), _grey(30, 60)]], gap=8)
    assert figure.image.shape == (40, 50 + 8 + 60, 3)
    assert figure.origins == ((0, 0), (58, 0))
    assert (figure.image[35, 60] == viz.WHITE).all()  # below the shorter panel: padding
    assert (figure.image[10, 52] == viz.WHITE).all()  # the gap


def test_colourise_uses_the_opencv_map_and_blackens_invalid_pixels():
    values = np.array([[0.0, 1.0, 2.0]])
    rgb = viz.colourise(values, 0.0, 2.0, "viridis", valid=np.array([[True, True, False]]))
    lut = cv2.applyColorMap(np.array([[0, 128, 255]], dtype=np.uint8), cv2.COLORMAP_VIRIDIS)[..., ::-1]
    assert (rgb[0, :2] == lut[0, :2]).all() and (rgb[0, 2] == 0).all()
    with pytest.raises(ProbekitError, match="unknown colour map"):
        viz.colourise(values, 0, 1, "jet2")


def test_label_colours_are_fixed_distinct_and_black_where_ignored():
    labels = np.array([[0, 1, 2, 255]])
    rgb = viz.label_colours(labels, num_classes=3, ignore_index=255)
    assert len({tuple(c) for c in rgb[0, :3]}) == 3 and not (rgb[0, :3] == 0).all(axis=1).any()
    assert (rgb[0, 3] == 0).all()
    assert (viz.palette(30)[:3] == viz.palette(3)).all() and len({tuple(c) for c in viz.palette(30)}) == 30


def test_png_round_trip(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    path = viz.write_png(tmp_path / "a.png", image)
    assert (viz.read_image(path) == image).all()
    with pytest.raises(ProbekitError, match="does not exist"):
        viz.read_image(tmp_path / "missing.png")


# -- correspondences -------------------------------------------------------------------------------


def test_match_points_are_match_cells_in_pixels():
    a, b, patch = _grid(4, 5, seed=1), _grid(3, 6, seed=2), 14
    points = np.array([[3.0, 2.0], [60.5, 40.0], [69.9, 55.9]], dtype=np.float32)
    matches = viz.match_points(a, b, points, patch)
    expected = match_cells(a, b, pixel_to_cell(torch.from_numpy(points), patch, (4, 5)))
    assert np.allclose(matches.trg_xy, cell_to_pixel(expected.cell_xy, patch).numpy())
    assert np.allclose(matches.score, expected.score.numpy()) and (matches.mutual == expected.mutual.numpy()).all()
    assert np.allclose(matches.src_xy, points)


def test_confident_matches_are_mutual_spread_and_best_first():
    grid = _grid(6, 6, seed=3)
    shuffled = grid.flip(1)  # B is A mirrored: every cell has a perfect match
    matches = viz.confident_matches(grid, shuffled, patch=10, num=4)
    assert len(matches) == 4 and matches.mutual.all()
    assert np.allclose(matches.trg_xy[:, 0], 60 - matches.src_xy[:, 0])  # mirrored column, same row
    assert np.allclose(matches.trg_xy[:, 1], matches.src_xy[:, 1])
    regions = {(int(y // 30), int(x // 30)) for x, y in matches.src_xy}  # 2 x 2 regions of 3 x 3 cells
    assert len(regions) == 4
    assert (np.diff(matches.score) <= 1e-6).all()


def test_correspondence_figure_size_and_drawn_lines():
    a, b = _grey(40, 50), _grey(30, 60)
    matches = viz.Correspondences(
        np.array([[5.5, 30.5]], np.float32), np.array([[40.5, 10.5]], np.float32), np.ones(1), np.ones(1, bool)
    )
    figure = viz.correspondence_figure(a, b, matches, gap=8)
    assert figure.image.shape == (40, 50 + 8 + 60, 3)
    (pa, pb), colour = figure.info["ends"][0], figure.info["colours"][0]
    assert pa == (5, 30) and pb == (58 + 40, 10)
    mid = ((pa[0] + pb[0]) // 2, (pa[1] + pb[1]) // 2)
    assert (figure.image[mid[1], mid[0]] == colour).all()
    assert (figure.image[pa[1], pa[0]] == colour).all() and (figure.image[pb[1], pb[0]] == colour).all()
    assert (figure.image[2, 2] == GREY).all()  # away from the match: the image


# -- PCA -------------------------------------------------------------------------------------------


def _coded_grids(h: int = 6, w: int = 8, d: int = 16):
    """Two grids whose patches are a known 3-channel code (uncorrelated channels, variances 9 : 4 : 1) in D dims."""
    rng = np.random.default_rng(0)
    n = 2 * h * w
    centred = rng.normal(size=(n, 3))
    centred -= centred.mean(0)
    q, _ = np.linalg.qr(centred)  # (n, 3) orthonormal, zero-mean columns
    code = q * np.array([3.0, 2.0, 1.0]) * np.sqrt(n)
    basis, _ = np.linalg.qr(rng.normal(size=(d, 3)))  # (d, 3) orthonormal
    features = code @ basis.T + rng.normal(size=d)  # plus an offset the PCA must remove
    grids = [torch.from_numpy(f.reshape(h, w, d).astype(np.float32)) for f in np.split(features, 2)]
    return grids, [c.reshape(h, w, 3) for c in np.split(code, 2)]


def test_pca_rgb_recovers_a_known_code_up_to_sign_and_scale():
    grids, codes = _coded_grids()
    maps = viz.pca_maps(grids, percentiles=(0.0, 100.0))
    rgb, code = np.concatenate(maps.rgb).reshape(-1, 3), np.concatenate(codes).reshape(-1, 3)
    for k in range(3):
        assert abs(np.corrcoef(rgb[:, k], code[:, k])[0, 1]) > 0.999
    assert rgb.min() == 0.0 and rgb.max() == 1.0


def test_foreground_mask_of_two_regions_and_black_background():
    h = w = 8
    rng = np.random.default_rng(1)
    inside = np.zeros((h, w), bool)
    inside[2:6, 3:7] = True
    grid = np.where(inside[..., None], rng.normal(size=16), rng.normal(size=16))  # (h, w, 16): two vectors
    grid = grid + 0.05 * rng.normal(size=(h, w, 16))
    grids = [torch.from_numpy(grid.astype(np.float32))]
    assert (viz.foreground_masks(grids, 0.5)[0] == inside).all()
    maps = viz.pca_maps(grids, foreground_threshold=0.5)
    assert (maps.rgb[0][~inside] == 0).all() and (maps.rgb[0][inside].max(axis=-1) > 0).any()
    with pytest.raises(ProbekitError, match="lower it"):
        viz.pca_maps(grids, foreground_threshold=1.0)


def test_pca_figure_puts_maps_under_images_at_image_size():
    grids, _ = _coded_grids(h=2, w=3)
    images = [_grey(28, 42), _grey(28, 42)]
    figure = viz.pca_figure(images, grids, upsample="nearest", gap=4)
    assert figure.image.shape == (28 + 4 + 28, 42 + 4 + 42, 3)
    x, y = figure.origins[2]
    expected = (figure.info["pca"].rgb[0][0, 0] * 255).round().astype(np.uint8)
    assert (figure.image[y + 13, x + 13] == expected).all()  # nearest upsampling: cell (0, 0) covers 14 x 14 px


# -- similarity ------------------------------------------------------------------------------------


def test_similarity_is_highest_at_the_source_patch_when_the_images_are_equal():
    grid, patch = _grid(4, 6, seed=4), 14
    sim, cell = viz.similarity_heatmap(grid, grid, (3 * 14 + 2, 2 * 14 + 5), patch)
    assert cell == 2 * 6 + 3 and int(sim.argmax()) == cell and sim.max() == pytest.approx(1.0)
    figure = viz.similarity_figure(_grey(56, 84), _grey(56, 84), grid, grid, (44.0, 33.0), patch, gap=8)
    assert figure.image.shape == (56, 84 + 8 + 84, 3)
    assert figure.info["best_cell"] == cell and figure.info["best_xy"] == [49.0, 35.0]


# -- predictions -----------------------------------------------------------------------------------


def test_prediction_figure_panels_shared_depth_range_and_black_ignore():
    H, W = 20, 24
    image = _grey(H, W)
    depth = np.linspace(1, 5, H * W, dtype=np.float32).reshape(H, W)
    depth[0, 0] = 0.0  # invalid truth
    mask = np.zeros((H, W), np.uint8)
    mask[:, W // 2 :] = 2
    mask[5, 5] = 255
    predictions = [
        viz.TaskPrediction("depth", np.maximum(depth[::-1, ::-1], 1.0), depth),
        viz.TaskPrediction("segmentation", mask.clip(0, 2), mask, num_classes=3, ignore_index=255),
    ]
    figure = viz.prediction_figure([(image, predictions)], alpha=1.0, captions=False, gap=4)
    assert figure.image.shape == (H, 5 * W + 4 * 4, 3)
    panel = lambda i: figure.image[:, figure.origins[i][0] : figure.origins[i][0] + W]  # noqa: E731
    assert (panel(0) == image).all()
    assert (panel(1)[0, 0] == 0).all()  # invalid depth: black
    # one colour range for truth and prediction: equal depths, equal colours
    assert (panel(1)[H - 1, W - 1] == panel(2)[0, 0]).all()
    assert (panel(3)[5, 5] == 0).all() and (panel(3)[0, 0] == viz.palette(3)[0]).all()
    assert (panel(4)[0, W - 1] == viz.palette(3)[2]).all()
    captioned = viz.prediction_figure([(image, predictions[:1])])
    assert captioned.image.shape == (H + viz.CAPTION_HEIGHT, 3 * W + 2 * 8, 3)


def test_prediction_of_another_size_is_refused():
    with pytest.raises(ProbekitError, match="resize one"):
        viz.prediction_panels(_grey(10, 10), [viz.TaskPrediction("depth", np.ones((5, 5)))])
