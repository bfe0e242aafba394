"""Patch correspondence (keypoint transfer) on cached patch grids: zero-shot, or through a trained projection.

For each pair: source keypoints (original px) -> stored px by the source's pixel map -> cell floor(x / P)
-> cosine nearest target cell (optional mutual-NN report, soft-argmax refinement, bilinear upsampling
of both grids) -> stored px by the cell-to-pixel convention -> original target px by the target's pixel
map -> PCK@α (probekit.metrics.correspondence), per point and per image, overall and per category.

Modes:
- zero-shot (`projection: none`, the default): no training; the frozen features are matched as they are
  and the final split is evaluated (the CLI passes the --features store as the test split when no
  --val/--test is given: `evaluated_on` = "test", `evaluated_store` names the file).
- trained (`projection: infonce | sigmoid`): a linear projection D -> d of the features
  (probekit.probes.contrastive), a grid over learning rates trained on the training pairs, each head
  kept at its best validation PCK@0.1 (per image), the best head evaluated on test. Without a val store
  every 10th *pair* of the training store is held out (a pair needs both its images). The zero-shot
  numbers on the same final split are reported beside (`zero_shot`).
Trivial baseline ("no features"): the identity map, i.e. each source point's stored-pixel position
taken as the prediction in the target's stored frame (same relative position when both are fitted alike).
Reference size for `pck_reference: image`: the original target image's max side, from the store's
`original_size` target where the adapter writes one (SPair-71k, PF-PASCAL), else recovered from the
pixel map and the stored size under the centred fit: ((W - 2 ox) / sx, (H - 2 oy) / sy); exact for
stretch / identity maps, within one resized pixel for centred crop or pad.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar, Protocol, cast

import numpy as np
import torch

from probekit.correspondence.matching import CELL_TO_PIXEL, pixel_to_cell, transfer_points
from probekit.data.geometry import PixelMap
from probekit.data.pairs import PCK_REFERENCES, PairTable
from probekit.device import resolve_device
from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore
from probekit.metrics.correspondence import PCK_ALPHAS, PCK_COMPARISONS, PCKMetrics, pck_key
from probekit.probes.contrastive import PROJECTION_LOSSES, ContrastiveProjection
from probekit.probes.stream import StoreView
from probekit.probes.trainer import HeadGrid, HeadSpec, TrainConfig, fit
from probekit.tasks.base import (
    TASKS,
    Column,
    Splits,
    TaskBase,
    TaskOutput,
    TrainedOptions,
    best_index,
    choose_layers,
    grid_table,
    option,
    require_target,
)

DEFAULT_LRS = (1e-3, 1e-2)
SELECTION_ALPHA = 0.1
GRID_CACHE_BYTES = 1 << 30  # patch grids kept in memory per split (read once); beyond this, read per pair
IDENTITY_MAP = "identity map: the source point's stored-pixel position, carried to the target through its pixel map"

# A projection maps (..., D) features to (..., d); None = the frozen features as they are.
Project = Callable[[torch.Tensor], torch.Tensor] | None


# -- the pairs of a split ------------------------------------------------------------------------
@dataclass(frozen=True)
class PairSplit:
    """The pairs one split uses, with what is needed to move points between frames."""

    store: FeatureStore
    table: PairTable
    rows: np.ndarray  # (P',) the table rows of this split
    pixel_maps: np.ndarray  # (N, 4) every image's pixel map
    name: str
    original_sizes: np.ndarray | None = None  # (N, 2) (height, width) where the adapter stores them

    @property
    def patch(self) -> int:
        return int(self.store.attrs["patch_size"])

    @property
    def image_hw(self) -> tuple[int, int]:
        height, width = self.store.attrs["image_size"]
        return int(height), int(width)

    def pixel_map(self, image: int) -> PixelMap:
        return PixelMap.from_array(self.pixel_maps[image])

    def reference_size(self, pair: int, reference: str) -> float:
        """max(w, h) of the target box ('bbox') or of the original target image ('image'), original px."""
        if reference == "bbox":
            x1, y1, x2, y2 = self.table.trg_bbox[pair]
            return float(max(x2 - x1, y2 - y1))
        target = int(self.table.trg[pair])
        if self.original_sizes is not None:  # exact for every fit
            return float(self.original_sizes[target].max())
        m, (H, W) = self.pixel_map(target), self.image_hw
        return float(max((W - 2 * m.ox) / m.sx, (H - 2 * m.oy) / m.sy))


def pair_split(view: StoreView) -> PairSplit:
    """A store view's pairs: all, or the strided pair hold-out matching the view's image hold-out."""
    store = view.store
    if not store.has_pairs:
        raise ProbekitError(
            f"{store.path} has no image pairs: extract a correspondence dataset (e.g. --dataset synthetic-pairs)"
        )
    require_target(store, "pixel_map", "correspondence")
    table = store.read_pairs()
    rows = np.arange(len(table))
    if view.holdout_every is not None:
        held = rows % view.holdout_every == view.holdout_every - 1
        rows = rows[held if view.holdout else ~held]
    if not len(rows):
        raise ProbekitError(f"{view.name} has no pairs: pass a --val store with pairs")
    sizes = store.read_target("original_size") if "original_size" in store.targets else None
    return PairSplit(store, table, rows, store.read_target("pixel_map").astype(np.float64), view.name, sizes)


class GridReader:
    """Patch grids (h, w, C) of a split's images, the chosen layers concatenated; kept in memory up to a cap."""

    def __init__(self, store: FeatureStore, layers: list[int], cap_bytes: int = GRID_CACHE_BYTES):
        self.store, self.layers, self.cap, self.used = store, layers, cap_bytes, 0
        self.cache: dict[int, np.ndarray] = {}

    def __call__(self, image: int) -> np.ndarray:
        if image in self.cache:
            return self.cache[image]
        grid = np.concatenate([self.store.read("patch", image, image + 1, k)[0] for k in self.layers], -1)
        grid = grid.astype(np.float32)  # (h, w, C)
        if self.used + grid.nbytes <= self.cap:
            self.cache[image], self.used = grid, self.used + grid.nbytes
        return grid


# -- evaluation ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MatchOptions:
    convention: str = "centre"
    soft_argmax: float | None = None
    window: int = 3
    upsample: int = 1
    mutual: bool = False
    alphas: tuple[float, ...] = PCK_ALPHAS
    comparison: str = "<="
    pck_reference: str | None = None  # None: the dataset's own (the pair table's)


def _pair_points(split: PairSplit, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair p's annotated keypoints: source in stored px (N, 2), target in original px (K, 2) with NaN for
    unannotated rows, and the row mask (K,)."""
    valid = split.table.valid[p]  # (K,)
    src = split.pixel_map(int(split.table.src[p])).to_stored(split.table.src_kps[p][valid])  # (N, 2)
    trg = np.where(valid[:, None], split.table.trg_kps[p], np.nan)  # (K, 2)
    return src, trg, valid


def evaluate(
    split: PairSplit, read: GridReader, projections: Sequence[Project], o: MatchOptions, device: torch.device
) -> list[dict[str, Any]]:
    """PCK (and the mutual-NN report when asked) of each projection on every pair of the split, one pass."""
    reference = o.pck_reference or split.table.pck_reference
    metrics = [PCKMetrics(o.alphas, o.comparison) for _ in projections]
    mutual = [PCKMetrics(o.alphas, o.comparison) for _ in projections] if o.mutual else []
    mutual_counts = np.zeros((len(projections), 2), dtype=np.int64)  # (heads, [mutual, all])
    for p in split.rows:
        src_xy, trg_kps, valid = _pair_points(split, p)
        size, category = split.reference_size(p, reference), split.table.categories[p]
        trg_map = split.pixel_map(int(split.table.trg[p]))
        src_grid = torch.from_numpy(read(int(split.table.src[p]))).to(device)  # (h, w, C)
        trg_grid = torch.from_numpy(read(int(split.table.trg[p]))).to(device)
        for i, project in enumerate(projections):
            s, t = (src_grid, trg_grid) if project is None else (project(src_grid), project(trg_grid))
            stored, matches = transfer_points(
                s,
                t,
                torch.from_numpy(src_xy).float().to(device),
                split.patch,
                o.convention,
                o.soft_argmax,
                o.window,
                o.upsample,
            )
            pred = np.full_like(trg_kps, np.nan)
            pred[valid] = trg_map.to_original(stored.cpu().numpy())  # (K, 2) original px
            metrics[i].update(pred, trg_kps, size, category)
            if o.mutual:
                keep = matches.mutual.cpu().numpy()
                only = trg_kps.copy()
                only[np.flatnonzero(valid)[~keep]] = np.nan  # non-mutual points left out
                mutual[i].update(pred, only, size, category)
                mutual_counts[i] += (int(keep.sum()), len(keep))
    results = []
    for i, metric in enumerate(metrics):
        result = metric.compute()
        result["pck_reference"] = reference
        if o.mutual:
            m = mutual[i].compute()
            m.pop("per_category")
            result["mutual_nn"] = {"fraction_mutual": mutual_counts[i, 0] / max(mutual_counts[i, 1], 1), **m}
        results.append(result)
    return results


def identity_baseline(split: PairSplit, o: MatchOptions) -> dict[str, Any]:
    """PCK of the identity map: no features, the point stays where it is in the stored frame."""
    reference = o.pck_reference or split.table.pck_reference
    metric = PCKMetrics(o.alphas, o.comparison)
    for p in split.rows:
        src_xy, trg_kps, valid = _pair_points(split, p)
        pred = np.full_like(trg_kps, np.nan)
        pred[valid] = split.pixel_map(int(split.table.trg[p])).to_original(src_xy)
        metric.update(pred, trg_kps, split.reference_size(p, reference), split.table.categories[p])
    result = metric.compute()
    result.pop("per_category")
    return {"predictor": IDENTITY_MAP, **result}


# -- training ------------------------------------------------------------------------------------
def _training_pair(split: PairSplit, read: GridReader, p: int) -> dict[str, np.ndarray] | None:
    """Source keypoint features (K, C), target grid (M, C), ground-truth target cell (K,) and mask (K,).

    Points whose stored position falls outside either stored image (cropped away) are left out."""
    src_i, trg_i = int(split.table.src[p]), int(split.table.trg[p])
    src_grid, trg_grid = read(src_i), read(trg_i)
    h, w, C = src_grid.shape
    H, W = split.image_hw
    valid = split.table.valid[p].copy()
    src_xy = split.pixel_map(src_i).to_stored(np.nan_to_num(split.table.src_kps[p]))  # (K, 2)
    trg_xy = split.pixel_map(trg_i).to_stored(np.nan_to_num(split.table.trg_kps[p]))
    for xy in (src_xy, trg_xy):
        valid &= (xy[:, 0] >= 0) & (xy[:, 0] < W) & (xy[:, 1] >= 0) & (xy[:, 1] < H)
    if not valid.any():
        return None
    src_cells = pixel_to_cell(torch.from_numpy(src_xy), split.patch, (h, w)).numpy()  # (K,)
    trg_cells = pixel_to_cell(torch.from_numpy(trg_xy), split.patch, (h, w)).numpy()
    return {
        "src": src_grid.reshape(-1, C)[src_cells],
        "trg": trg_grid.reshape(-1, C),
        "positive": np.where(valid, trg_cells, 0),
        "valid": valid,
    }


def strided_pairs(split: PairSplit, size: int | None) -> PairSplit:
    """At most `size` of the split's pairs, every k-th so they spread over it (None or 0: the split itself)."""
    if not size or size >= len(split.rows):
        return split
    return replace(split, rows=split.rows[:: -(-len(split.rows) // size)])


def training_batches(
    split: PairSplit, read: GridReader, batch_size: int, seed: int
) -> tuple[Callable[[int], Iterator[dict[str, np.ndarray]]], int]:
    """What `fit` needs: seeded shuffled batches of pairs per epoch, and batches per epoch."""
    examples = [e for e in (_training_pair(split, read, int(p)) for p in split.rows) if e is not None]
    if not examples:
        raise ProbekitError(f"{split.name}: no training pair has a keypoint inside both stored images")

    def batches(epoch: int) -> Iterator[dict[str, np.ndarray]]:
        order = np.random.default_rng([seed, epoch]).permutation(len(examples))
        for i in range(0, len(order), batch_size):
            chosen = [examples[j] for j in order[i : i + batch_size]]
            yield {key: np.stack([e[key] for e in chosen]) for key in chosen[0]}

    return batches, -(-len(examples) // batch_size)


# -- the task ------------------------------------------------------------------------------------
HeadInputs = Callable[[dict[str, torch.Tensor], HeadSpec], torch.Tensor]


class ProjectionLoss(Protocol):
    """What a PROJECTION_LOSSES module offers beside its logit map: the loss and its description."""

    def loss(self, logits: torch.Tensor, positive: torch.Tensor) -> torch.Tensor: ...

    def describe(self) -> dict[str, Any]: ...


def criterion_of(head: ContrastiveProjection) -> ProjectionLoss:
    """The head's loss module, typed as a ProjectionLoss (ContrastiveProjection stores it as a plain Module)."""
    return cast(ProjectionLoss, head.criterion)


@dataclass(frozen=True)
class CorrespondenceOptions(TrainedOptions):
    """Keypoint transfer by nearest patch, zero-shot (DIFT / SD-DINO protocol) or through a trained projection."""

    protocol_iters: ClassVar[int] = 1000  # probekit's choice: no published protocol trains this projection

    layers: tuple[int, ...] | None = option(None, "Stored layers to use, concatenated (default: the last stored).")
    lrs: tuple[float, ...] = option(DEFAULT_LRS, "Learning-rate grid of the trained projection.")
    weight_decays: tuple[float, ...] = option((0.0,), "Weight-decay grid of the trained projection.")
    batch_size: int = option(8, "Training batch size, in pairs (unused zero-shot).")
    optimizer: str = option("adamw", "Optimiser of the projection.", choices=("sgd", "adamw"))
    iters: int | None = option(None, "Training length in optimizer steps (default: 1000, probekit's choice).")
    val_subset: int | None = option(
        200, "Periodic validations read N val pairs, strided (the final choice reads all of val; 0: all)."
    )
    projection: str = option("none", "none (zero-shot) | infonce | sigmoid (trained linear projection).")
    projection_dim: int | None = option(None, "Projection output size (default: the feature size).")
    temperature: float | None = option(None, "InfoNCE temperature (default 0.07).")
    mutual: bool = option(False, "Also report PCK over mutual nearest neighbours only.")
    soft_argmax: float | None = option(None, "Soft-argmax refinement with this temperature (default: arg-max).")
    window: int = option(3, "Soft-argmax window side, in cells (odd).")
    upsample: int = option(1, "Bilinear upsampling factor of the patch grids.")
    alphas: tuple[float, ...] = option(PCK_ALPHAS, "PCK thresholds (fractions of the reference size).")
    pck_reference: str | None = option(None, "bbox (SPair) | image (PF-PASCAL) (default: the dataset's).")
    pck_comparison: str = option("<=", "'<=' (DIFT, SD-DINO, CATs) or '<' (GeoAware-SC).")
    convention: str = option("centre", "Cell -> pixel: centre | sd-dino | corner.")

    def match(self) -> MatchOptions:
        """The matching and scoring settings."""
        return MatchOptions(
            convention=self.convention,
            soft_argmax=self.soft_argmax or None,
            window=self.window,
            upsample=self.upsample,
            mutual=self.mutual,
            alphas=self.alphas,
            comparison=self.pck_comparison,
            pck_reference=self.pck_reference,
        )

    def check(self) -> None:
        o, projection = self.match(), self.projection
        checks = [
            (o.convention in CELL_TO_PIXEL, f"unknown --convention {o.convention!r}: use {', '.join(CELL_TO_PIXEL)}"),
            (
                o.pck_reference in (None, *PCK_REFERENCES),
                f"unknown --pck-reference {o.pck_reference!r}: use bbox or image",
            ),
            (o.comparison in PCK_COMPARISONS, f"unknown PCK comparison {o.comparison!r}: use <= or <"),
            (o.upsample >= 1, f"--upsample must be a positive integer, got {o.upsample}"),
            (o.window >= 1 and o.window % 2 == 1, f"--window must be odd and positive, got {o.window}"),
            (
                o.soft_argmax is None or o.soft_argmax > 0,
                f"--soft-argmax must be a positive temperature, got {o.soft_argmax}",
            ),
            (all(0 < a <= 1 for a in o.alphas), f"--alphas must be in (0, 1], got {o.alphas}"),
            (
                self.projection_dim is None or self.projection_dim >= 1,
                f"--projection-dim must be a positive integer, got {self.projection_dim}",
            ),
            (
                self.temperature is None or self.temperature > 0,
                f"--temperature must be positive, got {self.temperature}",
            ),
            (
                projection == "none" or projection in PROJECTION_LOSSES,
                f"unknown --projection {projection!r}: use none, {', '.join(PROJECTION_LOSSES)}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ProbekitError(message)


class CorrespondenceTask(TaskBase):
    name = "correspondence"
    options_type = CorrespondenceOptions
    main_metrics = (pck_key("image", 0.1), pck_key("point", 0.1))
    columns = (Column(pck_key("image", 0.1), "corr PCK@0.1", True, True),)  # per image (mean over pairs)
    trivial_name = "identity map"
    outputs = ("patch",)

    def run(self, splits: Splits, options: CorrespondenceOptions, device: str, progress: bool) -> TaskOutput:
        o, train = options.match(), options.train_config(device)
        final_view = splits.test or splits.val
        final = pair_split(final_view)
        layers = choose_layers(final.store, options.layers, default="last")
        torch_device = resolve_device(train.device)
        settings = {
            "layers": layers,
            **asdict(o),
            "pck_reference": o.pck_reference or final.table.pck_reference,
            "keypoint_to_cell": "floor(stored px / patch)",
            "cell_to_pixel": o.convention,
            "matching": "cosine nearest neighbour over the target grid",
        }
        read_final = GridReader(final.store, layers)
        trivial = identity_baseline(final, o)
        projection = options.projection
        if projection == "none":
            metrics = evaluate(final, read_final, [None], o, torch_device)[0]
            return TaskOutput(
                metrics=metrics,
                chosen={},
                grid=[],
                head_state={},
                trivial=trivial,
                settings={**settings, "mode": "zero-shot"},
                extra_metrics={"evaluated_store": final.name, "mode": "zero-shot"},
            )
        return self._trained(
            splits, options, train, progress, o, final, read_final, layers, torch_device, settings, trivial, projection
        )

    def _trained(
        self,
        splits: Splits,
        options: CorrespondenceOptions,
        train: TrainConfig,
        progress: bool,
        o: MatchOptions,
        final: PairSplit,
        read_final: GridReader,
        layers: list[int],
        device: torch.device,
        settings: dict[str, Any],
        trivial: dict[str, Any],
        projection: str,
    ) -> TaskOutput:
        train_split, val_split = pair_split(splits.train), pair_split(splits.val)
        read_train = read_final if train_split.store is final.store else GridReader(train_split.store, layers)
        read_val = (
            read_train
            if val_split.store is train_split.store
            else (read_final if val_split.store is final.store else GridReader(val_split.store, layers))
        )
        in_dim = final.store.dim * len(layers)
        out_dim = int(options.projection_dim or in_dim)
        criterion = PROJECTION_LOSSES.get(projection)
        criterion_args = {"temperature": options.temperature} if projection == "infonce" and options.temperature else {}
        specs = [HeadSpec(lr, wd) for lr in options.lrs for wd in options.weight_decays]
        torch.manual_seed(train.seed)
        heads = [ContrastiveProjection(in_dim, out_dim, criterion(**criterion_args)) for _ in specs]
        # A projection head takes the whole batch (HeadGrid's `inputs` type says a tensor); grid.heads holds
        # these very modules (fit loads the best weights in place), so `heads` is read below.
        grid = HeadGrid(heads, specs, cast(HeadInputs, lambda batch, spec: batch))
        select = MatchOptions(**{**asdict(o), "alphas": (SELECTION_ALPHA,), "mutual": False})
        selection_key = pck_key("image", SELECTION_ALPHA)

        def validate(split: PairSplit) -> list[float]:
            scores = evaluate(split, read_val, [h.projection for h in heads], select, device)
            return [s[selection_key] for s in scores]

        periodic = strided_pairs(val_split, options.val_subset)

        def loss(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return criterion_of(heads[0]).loss(logits, batch["positive"][batch["valid"].bool()])

        batches, steps = training_batches(train_split, read_train, train.batch_size, train.seed)
        result = fit(
            grid,
            loss,
            batches,
            steps,
            train,
            lambda _: validate(periodic),
            progress,
            final_evaluate=(lambda _: validate(val_split)) if periodic is not val_split else None,
        )
        assert result.best_scores is not None and result.best_iters is not None  # fit was given the validation
        chosen = best_index(result.best_scores)
        with torch.no_grad():
            zero_shot, metrics = evaluate(final, read_final, [None, heads[chosen].projection], o, device)
        return TaskOutput(
            metrics=metrics,
            trivial=trivial,
            chosen={
                **specs[chosen].describe(),
                f"val_{selection_key}": result.best_scores[chosen],
                **criterion_of(heads[chosen]).describe(),
            },
            grid=grid_table(specs, result.best_scores, result.best_iters),
            head_state=dict(heads[chosen].state_dict()),
            settings={
                **settings,
                "mode": "trained projection",
                "projection": projection,
                "projection_dim": out_dim,
                "in_dim": in_dim,
                "selected_by": f"val {selection_key}",
                "positives": "the ground-truth target cell of each source keypoint; negatives: every other "
                "cell of that pair's target grid",
                "train": asdict(train),
            },
            extra_metrics={"zero_shot": zero_shot, "mode": "trained projection"},
            history=result.history,
            schedule=result.schedule,
            train_losses=result.head_losses[:, chosen],
        )


TASKS.register("correspondence", CorrespondenceTask())
