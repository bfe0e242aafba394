"""Matching on grids whose answers are known; pixel <-> cell conventions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from probekit.correspondence.matching import (
    cell_to_pixel,
    match_cells,
    pixel_to_cell,
    transfer_points,
    upsample_grid,
)


def _shifted(h=4, w=5, D=32, seed=0):
    """A target grid that is the source shifted one cell right; column 0 of the target is new."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randn(h, w, D, generator=g)
    trg = torch.cat([torch.randn(h, 1, D, generator=g), src[:, :-1]], dim=1)
    return src, trg


def test_shifted_grid_matches_the_shifted_cell():
    src, trg = _shifted()
    h, w = 4, 5
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w - 1), indexing="ij")
    cells = (rows * w + cols).reshape(-1)
    m = match_cells(src, trg, cells)
    assert torch.equal(m.cell_xy, torch.stack([cols.reshape(-1) + 1.0, rows.reshape(-1).float()], 1))
    assert torch.allclose(m.score, torch.ones_like(m.score)) and m.mutual.all()
    # in stored pixels, through the upsampled grids too (cells of 16 / 2 px)
    xy = torch.tensor([[20.0, 3.0], [40.0, 50.0]])  # cells (col 1, row 0) and (col 2, row 3)
    pred, _ = transfer_points(src, trg, xy, patch=16, upsample=1)
    assert torch.equal(pred, torch.tensor([[40.0, 8.0], [56.0, 56.0]]))
    pred, _ = transfer_points(src, trg, xy, patch=16, upsample=2)
    assert torch.allclose(pred[:, 1], torch.tensor([4.0, 52.0]))  # upsampled cells of 8 px: rows 0 and 6


def test_soft_argmax_of_a_symmetric_peak_is_its_centre():
    e0, e1 = torch.eye(2)
    rows, cols = torch.meshgrid(torch.arange(5.0), torch.arange(5.0), indexing="ij")
    angle = 0.3 * ((rows - 2) ** 2 + (cols - 2) ** 2).sqrt()  # (5, 5) symmetric about (2, 2)
    trg = angle.cos()[..., None] * e0 + angle.sin()[..., None] * e1  # cosine to e0 = cos(angle)
    src = e0.expand(1, 1, 2)
    refined = match_cells(src, trg, torch.tensor([0]), soft_argmax=0.1, window=3).cell_xy
    assert torch.allclose(refined, torch.tensor([[2.0, 2.0]]), atol=1e-6)
    trg[2, 3] = e0 * 0.999 + e1 * 0.0447  # right neighbour nearly as similar
    x, y = match_cells(src, trg, torch.tensor([0]), soft_argmax=0.1).cell_xy[0].tolist()
    assert x > 2.05 and abs(y - 2.0) < 1e-6  # pulled right only; still symmetric vertically


def test_mutual_flags_by_hand():
    e0, e1 = torch.eye(2)
    src = torch.stack([e0, F.normalize(e0 + 0.1 * e1, dim=0)])[None]  # (1, 2, 2): a, b
    trg = torch.stack([e0, e1])[None]  # (1, 2, 2)
    m = match_cells(src, trg, torch.tensor([0, 1]))
    assert m.cell_xy[:, 0].tolist() == [0.0, 0.0]  # both match target cell 0
    assert m.mutual.tolist() == [True, False]  # whose nearest source cell is a


def test_pixel_cell_conventions():
    xy = torch.tensor([[15.9, 0.0], [16.0, 31.9], [-3.0, 500.0]])
    assert pixel_to_cell(xy, 16, (3, 4)).tolist() == [0, 4 + 1, 2 * 4 + 0]  # floor, then clamped into the grid
    cell = torch.tensor([[0.0, 2.0]])
    assert cell_to_pixel(cell, 16, "centre").tolist() == [[8.0, 40.0]]
    assert cell_to_pixel(cell, 16, "sd-dino").tolist() == [[7.5, 39.5]]
    assert cell_to_pixel(cell, 16, "corner").tolist() == [[0.0, 32.0]]


def test_upsample_grid_is_bilinear():
    grid = torch.randn(3, 4, 5)
    expected = F.interpolate(grid.permute(2, 0, 1)[None], scale_factor=2, mode="bilinear", align_corners=False)[0]
    assert torch.allclose(upsample_grid(grid, 2), expected.permute(1, 2, 0), atol=1e-6)
