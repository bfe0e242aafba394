"""Matching patch features between two images: cosine nearest neighbour on the patch grids.

Points move between three frames: stored-image pixels (x, y), patch cells (row, col) of the grid
and back. Pixel -> cell is floor(coordinate / patch), as the correspondence papers do; cell -> pixel
has three published conventions (docs/protocols/correspondence.md), named in every result:
    centre:  p * P + P / 2        (GeoAware-SC; the default)
    sd-dino: p * P + (P - 1) / 2  (SD-DINO)
    corner:  p * P                (Probe3D)
Soft-argmax refinement returns sub-cell positions: the similarity-weighted mean of the cell centres
in a window around the arg-max, with weights softmax(similarity / temperature).
Grids may be bilinearly upsampled by an integer factor u first (DIFT matches on upsampled features):
the upsampled grid is a grid of cells of P / u stored pixels, so the same formulas hold with P / u.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from probekit.probes.resize import resize_bilinear

# (N, 2) cell coordinates, stored pixels per cell -> (N, 2) stored-pixel x, y
CELL_TO_PIXEL: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "centre": lambda cell, patch: cell * patch + patch / 2,
    "sd-dino": lambda cell, patch: cell * patch + (patch - 1) / 2,
    "corner": lambda cell, patch: cell * patch,
}


def pixel_to_cell(xy: torch.Tensor, patch: float, grid: tuple[int, int]) -> torch.Tensor:
    """(N, 2) stored-pixel x, y -> (N,) long flat cell index row * w + col (clamped into the grid)."""
    h, w = grid
    col = torch.div(xy[:, 0], patch, rounding_mode="floor").long().clamp(0, w - 1)
    row = torch.div(xy[:, 1], patch, rounding_mode="floor").long().clamp(0, h - 1)
    return row * w + col


def cell_to_pixel(cell_xy: torch.Tensor, patch: float, convention: str = "centre") -> torch.Tensor:
    """(N, 2) cell coordinates (col, row; fractional after soft-argmax) -> stored-pixel x, y."""
    if convention not in CELL_TO_PIXEL:
        raise ValueError(f"unknown cell-to-pixel convention {convention!r}: use one of {', '.join(CELL_TO_PIXEL)}")
    return CELL_TO_PIXEL[convention](cell_xy, patch)


def cosine_similarity(src: torch.Tensor, trg: torch.Tensor) -> torch.Tensor:
    """(N, D) x (M, D) -> (N, M) cosine similarities."""
    return F.normalize(src.float(), dim=-1) @ F.normalize(trg.float(), dim=-1).T


@dataclass(frozen=True)
class Matches:
    """For N source points: the target cell (col, row; fractional when refined), its similarity, and
    whether the target cell's own nearest neighbour in the source image is the source cell (mutual)."""

    cell_xy: torch.Tensor  # (N, 2) float
    score: torch.Tensor  # (N,) cosine similarity of the arg-max cell
    mutual: torch.Tensor  # (N,) bool


def match_cells(
    src_grid: torch.Tensor,
    trg_grid: torch.Tensor,
    src_cells: torch.Tensor,
    soft_argmax: float | None = None,
    window: int = 3,
) -> Matches:
    """Match source cells (N,) flat indices of src_grid (h, w, D) onto trg_grid (h', w', D).

    soft_argmax: temperature of the sub-cell refinement (None = plain arg-max);
    window: side of the square of cells around the arg-max that the refinement averages over.
    """
    h2, w2, D = trg_grid.shape
    src_flat = src_grid.reshape(-1, D)  # (h*w, D)
    trg_flat = trg_grid.reshape(-1, D)  # (h'*w', D)
    sim = cosine_similarity(src_flat[src_cells], trg_flat)  # (N, h'*w')
    score, best = sim.max(dim=1)  # (N,), (N,)
    back = cosine_similarity(trg_flat[best], src_flat).argmax(dim=1)  # (N,) nearest source cell of each match
    mutual = back == src_cells
    cols, rows = (best % w2).float(), torch.div(best, w2, rounding_mode="floor").float()
    cell_xy = torch.stack([cols, rows], dim=1)  # (N, 2)
    if soft_argmax is not None:
        cell_xy = _refine(sim.view(-1, h2, w2), cell_xy, soft_argmax, window)
    return Matches(cell_xy=cell_xy, score=score, mutual=mutual)


def _refine(sim: torch.Tensor, cell_xy: torch.Tensor, temperature: float, window: int) -> torch.Tensor:
    """Soft-argmax of sim (N, h, w) in a window x window neighbourhood of each arg-max cell."""
    N, h, w = sim.shape
    r = window // 2
    offsets = torch.arange(-r, r + 1, device=sim.device, dtype=torch.float32)
    dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")  # (k, k)
    xs = (cell_xy[:, 0, None, None] + dx).clamp(0, w - 1)  # (N, k, k)
    ys = (cell_xy[:, 1, None, None] + dy).clamp(0, h - 1)
    idx = (ys * w + xs).long().reshape(N, -1)  # (N, k*k)
    values = sim.reshape(N, -1).gather(1, idx)  # (N, k*k)
    # cells clamped onto the border repeat: count each cell once
    duplicate = torch.zeros_like(values, dtype=torch.bool)
    for j in range(1, idx.shape[1]):
        duplicate[:, j] = (idx[:, :j] == idx[:, j : j + 1]).any(dim=1)
    weights = torch.softmax((values / temperature).masked_fill(duplicate, float("-inf")), dim=1)  # (N, k*k)
    return torch.stack([(weights * xs.reshape(N, -1)).sum(1), (weights * ys.reshape(N, -1)).sum(1)], dim=1)


def similarity_map(src_grid: torch.Tensor, trg_grid: torch.Tensor, src_cell: int) -> torch.Tensor:
    """Cosine similarity (h', w') of one source cell against every target cell."""
    h2, w2, D = trg_grid.shape
    return cosine_similarity(src_grid.reshape(-1, D)[src_cell : src_cell + 1], trg_grid.reshape(-1, D)).view(h2, w2)


def match_all_cells(
    src_grid: torch.Tensor, trg_grid: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, Matches]:
    """Every source cell (or those where `mask` (h, w) is True): the flat cell indices and their matches."""
    cells = torch.arange(src_grid.shape[0] * src_grid.shape[1], device=src_grid.device)
    if mask is not None:
        cells = cells[mask.reshape(-1).to(cells.device)]
    return cells, match_cells(src_grid, trg_grid, cells)


def upsample_grid(grid: torch.Tensor, factor: int) -> torch.Tensor:
    """(h, w, D) -> (h * factor, w * factor, D), bilinear (align_corners=False, as F.interpolate)."""
    if factor == 1:
        return grid
    h, w, _ = grid.shape
    up = resize_bilinear(grid.float().permute(2, 0, 1), (h * factor, w * factor))  # (D, h*u, w*u)
    return up.permute(1, 2, 0)


def transfer_points(
    src_grid: torch.Tensor,
    trg_grid: torch.Tensor,
    src_xy: torch.Tensor,
    patch: int,
    convention: str = "centre",
    soft_argmax: float | None = None,
    window: int = 3,
    upsample: int = 1,
) -> tuple[torch.Tensor, Matches]:
    """Carry (N, 2) stored-pixel source points onto the target: (N, 2) stored-pixel predictions and the matches.

    Source point -> its cell (floor(x / P)) -> cosine nearest target cell (optionally refined)
    -> the target cell's pixel by `convention`. Grids are (h, w, D); `upsample` multiplies both grids' size.
    """
    src_grid, trg_grid = upsample_grid(src_grid, upsample), upsample_grid(trg_grid, upsample)
    cell = patch / upsample  # stored pixels per (upsampled) cell
    src_cells = pixel_to_cell(src_xy, cell, (src_grid.shape[0], src_grid.shape[1]))  # (N,)
    matches = match_cells(src_grid, trg_grid, src_cells, soft_argmax=soft_argmax, window=window)
    return cell_to_pixel(matches.cell_xy, cell, convention), matches
