"""Multi-view geometric correspondence: recall of ground-truth matches between two posed views, binned by
the views' relative rotation (Probe3D's multi-view probe, docs/protocols/multiview.md).

The store's pair table holds, per pair, ground-truth matches made by reprojection with an occlusion test
(source and target points in original pixels: the synthetic renderer's exact ones, or the posed-scenes
adapter's from depth, intrinsics and poses) and the geodesic angle of the relative camera rotation
(`rotation_deg`). Each source point goes to the cosine nearest patch of the target grid, zero-shot, exactly as
the correspondence task's default (probekit.correspondence.matching.transfer_points); the predicted target
pixel is compared with the true one: recall at pixel thresholds (probekit.metrics.multiview), every match
pooled, and per rotation bin the mean of the pairs' recalls. Nothing is trained: the final split is evaluated
(the CLI evaluates the --features store itself when no --val/--test is given).
Trivial baseline ("no features"): the identity map, the source point's stored-pixel position taken as the
prediction in the target's stored frame; it is strong for small rotations, which is why it is reported per bin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from probekit.correspondence.matching import CELL_TO_PIXEL, transfer_points
from probekit.device import resolve_device
from probekit.errors import MetricError, ProbekitError
from probekit.metrics.multiview import RECALL_PIXELS, ROTATION_BINS, MultiviewRecall, bin_key, check_bins, recall_key
from probekit.tasks.base import (
    TASKS,
    Column,
    ProbeOptions,
    Splits,
    TaskBase,
    TaskOutput,
    choose_layers,
    option,
    patch_width,
)
from probekit.tasks.correspondence import IDENTITY_MAP, GridReader, PairSplit, pair_points, pair_split

MAIN_PIXELS = 10.0  # the table's threshold: Probe3D bins its ScanNet recall at 10 px


@dataclass(frozen=True)
class MultiviewOptions(ProbeOptions):
    """Zero-shot matching of posed views; thresholds and bins are Probe3D's (docs/protocols/multiview.md)."""

    layers: tuple[int, ...] | None = option(None, "Stored layers to use, concatenated (default: the last stored).")
    pixels: tuple[float, ...] = option(RECALL_PIXELS, "Recall thresholds in original target pixels (error < px).")
    bins: tuple[float, ...] = option(ROTATION_BINS, "Rotation bin edges in degrees; bins are [low, high).")
    convention: str = option("centre", "Cell -> pixel: centre | sd-dino | corner.", choices=tuple(CELL_TO_PIXEL))
    upsample: int = option(1, "Bilinear upsampling factor of the patch grids.")
    soft_argmax: float | None = option(None, "Soft-argmax refinement with this temperature (default: arg-max).")
    window: int = option(3, "Soft-argmax window side, in cells (odd).")

    def check(self) -> None:
        checks = [
            (all(p > 0 for p in self.pixels), f"--pixels must be positive thresholds, got {self.pixels}"),
            (
                MAIN_PIXELS in self.pixels,
                f"--pixels must include {MAIN_PIXELS:g} (the table's column), got {self.pixels}",
            ),
            (self.upsample >= 1, f"--upsample must be a positive integer, got {self.upsample}"),
            (self.window >= 1 and self.window % 2 == 1, f"--window must be odd and positive, got {self.window}"),
            (
                self.soft_argmax is None or self.soft_argmax > 0,
                f"--soft-argmax must be a positive temperature, got {self.soft_argmax}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ProbekitError(message)
        try:
            check_bins(self.bins)
        except MetricError as error:
            raise ProbekitError(f"--bins: {error}") from None


def rotations(split: PairSplit) -> np.ndarray:
    """(P,) the pairs' rotation angles in degrees, or one line saying how to get a store that has them."""
    if split.table.rotation_deg is None:
        raise ProbekitError(
            f"{split.store.path} has no per-pair rotation angles (stores of pairs without camera poses, or "
            f"extracted before they were recorded): extract --dataset synthetic-multiview or posed-scenes"
        )
    return split.table.rotation_deg


def evaluate(
    split: PairSplit, read: GridReader, options: MultiviewOptions, device: torch.device
) -> tuple[MultiviewRecall, dict[str, Any]]:
    """Recall of the nearest-patch matches (the metric, for its per-pair statistics), and the identity map's
    metrics, over every pair of the split."""
    angles = rotations(split)
    found, identity = MultiviewRecall(options.pixels, options.bins), MultiviewRecall(options.pixels, options.bins)
    for p in split.rows:
        src_xy, trg_kps, valid = pair_points(split, p)  # (N, 2) stored px, (K, 2) original px, (K,)
        trg_map = split.pixel_map(int(split.table.trg[p]))
        pred = np.full_like(trg_kps, np.nan)
        if valid.any():
            src_grid = torch.from_numpy(read(int(split.table.src[p]))).to(device)  # (h, w, C)
            trg_grid = torch.from_numpy(read(int(split.table.trg[p]))).to(device)
            stored, _ = transfer_points(
                src_grid,
                trg_grid,
                torch.from_numpy(src_xy).float().to(device),
                split.patch,
                options.convention,
                options.soft_argmax,
                options.window,
                options.upsample,
            )
            pred[valid] = trg_map.to_original(stored.cpu().numpy())  # (N, 2) original target px
        found.update(pred, trg_kps, float(angles[p]))
        still = np.full_like(trg_kps, np.nan)
        still[valid] = trg_map.to_original(src_xy)
        identity.update(still, trg_kps, float(angles[p]))
    return found, {"predictor": IDENTITY_MAP, **identity.compute()}


class MultiviewTask(TaskBase):
    name = "multiview"
    options_type = MultiviewOptions
    main_metrics = (recall_key(MAIN_PIXELS), bin_key(MAIN_PIXELS, ROTATION_BINS[0], ROTATION_BINS[1]))
    columns = (
        Column(recall_key(MAIN_PIXELS), "mv recall@10px", True, True),
        Column(bin_key(MAIN_PIXELS, ROTATION_BINS[0], ROTATION_BINS[1]), "mv recall@10px 0-30deg", True, True),
    )
    trivial_name = "identity map"
    outputs: ClassVar[tuple[str, ...]] = ("patch",)

    def evaluates_whole_store(self, options: Any) -> bool:
        return True  # zero-shot: nothing is trained, so nothing is held out

    def deterministic(self, options: Any) -> str | None:
        return "zero-shot multiview matching trains nothing: the result does not depend on the seed"

    def run(self, splits: Splits, options: MultiviewOptions, device: str, progress: bool) -> TaskOutput:
        final_view = splits.test or splits.val
        layers = choose_layers(final_view.store, options.layers, default="last")
        patch_width(final_view.store, layers, self.name)  # refuses stages of different grids in one line
        final = pair_split(final_view, layers[-1])
        found, trivial = evaluate(final, GridReader(final.store, layers), options, resolve_device(device))
        return TaskOutput(
            metrics=found.compute(),
            samples=[found.samples()],
            chosen={},
            grid=[],
            head_state={},
            trivial=trivial,
            settings={
                "layers": layers,
                "mode": "zero-shot",
                "pixels": list(options.pixels),
                "bins": list(options.bins),
                "keypoint_to_cell": "floor(stored px / patch)",
                "cell_to_pixel": options.convention,
                "upsample": options.upsample,
                "soft_argmax": options.soft_argmax,
                "window": options.window,
                "matching": "cosine nearest neighbour over the target grid",
                "recall": "error < threshold in original target px; overall pools matches, bins average pairs",
            },
            extra_metrics={"evaluated_store": final.name, "mode": "zero-shot"},
        )


TASKS.register("multiview", MultiviewTask())
