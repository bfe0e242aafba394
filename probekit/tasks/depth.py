"""Monocular depth from cached patch grids: DINOv2's linear depth head, or log-depth regression; either on the
concatenated grids (`--head linear`) or after DPT's multi-layer decoder (`--head dpt`, probekit/tasks/dense.py).

DINOv2 head (default): patch features with the CLS token concatenated to every patch, bilinear x4
upsampling, 1x1 conv to 256 bins over [min_depth, max_depth] (linear or log spacing), "linear"
normalisation; depth = sum of p * bin centres. Loss: SILog + 0.5 x gradient loss (DINOv2's
config; Probe3D weighs 10 x SILog + 0.5 x gradient). Predictions are upsampled to the label size
and evaluated with the Monocular-Depth-Estimation-Toolbox metrics (per image, then averaged),
with the scale-invariant (median-aligned) metrics reported beside them. Selection: RMSE on val.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, cast

import numpy as np
import torch

from probekit.device import resolve_device
from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore
from probekit.metrics.depth import Alignment, Crop, DepthMetrics, valid_depth_mask
from probekit.probes.heads import DepthBinsHead, DepthRegressionHead
from probekit.probes.losses import gradient_loss, silog_loss
from probekit.probes.resize import resize_bilinear
from probekit.probes.stream import StoreView, iterate_batches
from probekit.probes.trainer import SCHEDULERS, HeadSpec, to_device
from probekit.registry import Registry
from probekit.tasks.base import (
    TASKS,
    Column,
    Splits,
    TaskBase,
    TaskOutput,
    fit_on_val,
    grid_table,
    option,
    require_target,
    spatial_size,
)
from probekit.tasks.dense import (
    DenseOptions,
    TestView,
    dense_head,
    dense_sets,
    fraction_warning,
    frame_predictions,
    head_summary,
    object_column,
    scoring_frame,
    test_views,
)
from probekit.tasks.segmentation import read_patch_grid, spatial_size_of
from probekit.tasks.sweep import best_per_set, build_grid, dense_layer_dim, set_index, stacked, sweep_record

DEFAULT_LRS = (1e-4, 3e-4, 1e-3, 3e-3)
# (input channels, options, upsampling factor) -> the depth readout: 4 on the patch grid, 1 after DPT (at 4x already)
HeadFactory = Callable[[int, Mapping[str, Any], int], torch.nn.Module]
HEADS: Registry[HeadFactory] = Registry("depth prediction", ProbekitError)
HEADS.register(
    "bins",
    lambda dim, o, up: DepthBinsHead(dim, o["min_depth"], o["max_depth"], o["n_bins"], o["bin_spacing"], upsample=up),
)
HEADS.register("regression", lambda dim, o, up: DepthRegressionHead(dim, o["min_depth"], o["max_depth"], upsample=up))
CROPS = ("eigen", "garg", "none")


@dataclass(frozen=True)
class DepthOptions(DenseOptions):
    """Linear depth: DINOv2's linear depth head (dinov2/eval/depth configs, "lin. 1"), trained on cached grids."""

    # DINOv2's NYU linear config (docs/protocols/depth.md): IterBasedRunner max_iters 38400; CosineAnnealing
    # lr with a linear warm-up of 12800 iterations from 0.001 x the rate.
    protocol_iters: ClassVar[int] = 38400
    protocol_warmup: ClassVar[int] = 12800
    protocol_warmup_ratio: ClassVar[float] = 1e-3
    sweeps: ClassVar[bool] = True  # --sweep-layers: a grid per layer in one pass (probekit/tasks/sweep.py)

    layers: tuple[int, ...] | None = option(
        None, "Stored layers to use, concatenated (default: the last stored; --head dpt: the quarters' ends)."
    )
    lrs: tuple[float, ...] = option(DEFAULT_LRS, "Learning-rate grid.")
    weight_decays: tuple[float, ...] = option((1e-4,), "Weight-decay grid.")
    batch_size: int = option(16, "Training batch size, in images.")
    optimizer: str = option("adamw", "Optimiser: AdamW (DINOv2's depth configs) or SGD.", choices=("sgd", "adamw"))
    iters: int | None = option(None, "Training length in optimizer steps (default: DINOv2's NYU linear 38400).")
    scheduler: str = option(
        "cosine", "Learning-rate decay (DINOv2's NYU config: cosine after a linear warm-up).", choices=SCHEDULERS
    )
    val_subset: int | None = option(
        250, "Periodic validations read N val images, strided (the final choice reads all of val; 0: all)."
    )
    prediction: str = option("bins", "Depth readout: bins (DINOv2, 'linear' normalisation) | regression (log depth).")
    min_depth: float | None = option(None, "Depth range minimum in metres (default: the store's, else 0.001).")
    max_depth: float | None = option(None, "Depth range maximum in metres (default: the store's, else 10).")
    n_bins: int = option(256, "Depth bins of the bins head (DINOv2: 256).")
    bin_spacing: str = option("linear", "Depth bin spacing (DINOv2: linear).", choices=("linear", "log"))
    with_cls: bool = option(True, "Concatenate the CLS token to every patch (DINOv2).")
    gradient_weight: float = option(0.5, "Weight of the gradient loss beside SILog (DINOv2: 0.5).")
    crop: str | None = option(
        None, "Evaluation crop: eigen (NYU) | garg (KITTI) | none (default: the dataset's).", choices=CROPS
    )

    def check(self) -> None:
        HEADS.get(self.prediction)  # unknown readouts: one line naming the registered ones
        if self.bin_spacing not in ("linear", "log"):
            raise ProbekitError(f"--bin-spacing must be linear or log, not {self.bin_spacing!r}")
        if self.crop not in (None, *CROPS):
            raise ProbekitError(f"--crop must be eigen, garg or none, not {self.crop!r}")
        if self.n_bins < 1:
            raise ProbekitError(f"--n-bins must be a positive integer, not {self.n_bins}")
        if self.gradient_weight < 0 or self.gradient_weight != self.gradient_weight:
            raise ProbekitError(f"--gradient-weight must be >= 0, not {self.gradient_weight}")
        if self.min_depth is not None and self.max_depth is not None and self.min_depth >= self.max_depth:
            raise ProbekitError(f"--min-depth {self.min_depth:g} must be below --max-depth {self.max_depth:g}")


def head_input(batch: dict[str, torch.Tensor], spec: HeadSpec | None) -> torch.Tensor:
    x = batch["x"].permute(0, 3, 1, 2)  # (B, C, h, w)
    if "cls" in batch:
        cls = batch["cls"][:, :, None, None].expand(-1, -1, *x.shape[-2:])  # (B, Ccls, h, w)
        x = torch.cat([x, cls], dim=1)
    return x


def read_cls(store: FeatureStore, begin: int, end: int, layers: list[int]) -> np.ndarray:
    """(B, L*D): the chosen layers' CLS tokens concatenated."""
    return np.concatenate([store.read("cls", begin, end, k) for k in layers], axis=-1)


def upsampled_depth(depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return resize_bilinear(depth, size)  # (B, H, W)


class DepthTask(TaskBase):
    name = "depth"
    options_type = DepthOptions
    main_metrics = ("d1", "abs_rel", "rmse")
    columns = (
        Column("d1", "depth δ1", True, True),
        Column("abs_rel", "depth AbsRel", False, False),
        Column("rmse", "depth RMSE", False, False),
    )
    trivial_name = "mean depth"
    outputs = ("cls", "patch")

    def required_outputs(self, options: Any) -> tuple[str, ...]:
        """Patch grids, and the CLS token with `with_cls` (DINOv2's default)."""
        return self.outputs if options.with_cls else ("patch",)

    truth_target = "depth"

    def run(self, splits: Splits, options: DepthOptions, device: str, progress: bool) -> TaskOutput:
        store = splits.train.store
        train = options.train_config(device)
        require_target(store, "depth", self.name)
        attrs = store.target_attrs("depth")
        o = asdict(options)
        o["min_depth"] = float(options.min_depth or attrs.get("min_depth", 1e-3))
        o["max_depth"] = float(options.max_depth or attrs.get("max_depth", 10.0))
        with_cls = options.with_cls
        gradient_weight = options.gradient_weight
        crop = options.crop or attrs.get("crop")  # the dataset's protocol crop unless --crop says otherwise
        crop = None if crop in (None, "none") else crop
        # Real datasets store each sample's exact box (`eval_crop`); fractions of the stored shape otherwise.
        boxes = (
            crop is not None and "eval_crop" in store.targets and store.target_attrs("eval_crop").get("crop") == crop
        )
        metric_crop = None if boxes else cast(Crop, crop)  # DepthMetrics refuses other names
        sets = dense_sets(store, options)
        valid_range = (o["min_depth"], o["max_depth"])
        fractions = valid_fractions(splits, valid_range, train.batch_size)

        def read(s: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:
            x = stacked(sets, lambda layers: read_patch_grid(s, begin, end, layers))  # (B, S, h, w, C)
            arrays = {"x": x, "depth": s.read_target("depth", begin, end)}
            if boxes:
                arrays["eval_crop"] = s.read_target("eval_crop", begin, end)
            if with_cls:
                arrays["cls"] = stacked(sets, lambda layers: read_cls(s, begin, end, layers))  # (B, S, C)
            return arrays

        position = set_index(sets)

        def inputs(batch: dict[str, torch.Tensor], spec: HeadSpec) -> torch.Tensor:
            j = position(spec)  # this head's layers on the stacked axis
            return head_input({key: batch[key][:, j] for key in ("x", "cls") if key in batch}, spec)  # (B, C, h, w)

        def loss(pred: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            target = batch["depth"]
            pred = upsampled_depth(pred, spatial_size(target))
            valid = (target > valid_range[0]) & (target < valid_range[1])
            value = silog_loss(pred, target, valid)
            if gradient_weight:
                value = value + gradient_weight * gradient_loss(pred, target, valid)
            return value

        layer_dim = dense_layer_dim(store, sets, self.name)
        specs = [HeadSpec(lr, wd) for lr in options.lrs for wd in options.weight_decays]
        grid = build_grid(
            sets,
            specs,
            lambda spec: self.build_head({**o, "layers": sets[position(spec)]}, layer_dim),
            inputs,
            train.seed,
        )
        torch_device = resolve_device(train.device)

        def metrics(alignment: Alignment = None) -> DepthMetrics:
            return DepthMetrics(
                min_depth=o["min_depth"], max_depth=o["max_depth"], crop=metric_crop, alignment=alignment
            )

        def evaluate(
            view: StoreView, heads: list[int], alignments: tuple[Alignment, ...] = (None,)
        ) -> list[list[DepthMetrics]]:
            """Per head, one DepthMetrics per alignment, all fed from a single pass over the view."""
            results = [[metrics(a) for a in alignments] for _ in heads]
            for arrays in iterate_batches(view, read, train.batch_size):
                batch = to_device(arrays, torch_device)
                for per_head, i in zip(results, heads, strict=True):
                    pred = upsampled_depth(grid.heads[i](inputs(batch, grid.specs[i])), spatial_size(batch["depth"]))
                    for metric in per_head:
                        metric.update(pred, batch["depth"], batch.get("eval_crop"))
            return results

        def validate(view: StoreView) -> list[float]:
            return [-m[0].compute()["rmse"] for m in evaluate(view, list(range(len(grid.specs))))]

        result, scores, iters, chosen = fit_on_val(grid, loss, splits, read, train, options, validate, progress)
        per_set = best_per_set(sets, len(specs), scores)
        layers = sets[position(grid.specs[chosen])]
        final = splits.test or splits.val
        frame, fallback = scoring_frame(final.store, options.score_at, "depth")
        views = test_views(final.store, options.protocol, options.ms_scales, options.ms_flip)
        scoring: dict[str, Any] = {"score_at": frame, "protocol": options.protocol}
        if fallback:
            scoring["warning"] = fallback
        if options.protocol == "ms":
            scoring["views"] = [{"scale": v.scale, "flip": v.flip, "store": v.store.path.name} for v in views]

        def scorer_of(i: int) -> FinalScorer:
            """The final split's scorer of head i's layers."""
            return FinalScorer(
                final, frame, sets[position(grid.specs[i])], with_cls, o, cast(Crop, crop), boxes, torch_device
            )

        def final_score(i: int, record: dict[str, Any] | None) -> tuple[DepthMetrics, DepthMetrics]:
            """(plain, median-aligned) metrics of head i over the test views in the scoring frame."""
            head = grid.heads[i].eval()
            return scorer_of(i).score(views, lambda b: head(head_input(b, None)), train.batch_size, record)

        if frame == "stored" and options.protocol == "lin":  # every layer's best head in one pass
            scored = evaluate(final, per_set, alignments=(None, "median"))
            plain, median_aligned = scored[per_set.index(chosen)]
            trivial = _mean_depth_baseline(splits.train, final, o, metric_crop, boxes, train.batch_size)
        else:
            plain, median_aligned = final_score(chosen, scoring)
            scored = [[plain, median_aligned] if i == chosen else list(final_score(i, None)) for i in per_set]
            trivial = _mean_depth_baseline(
                splits.train, final, o, metric_crop, boxes, train.batch_size, scorer_of(chosen)
            )
        extra: dict[str, Any] = {}
        if options.sweep_layers is not None:
            selection = [-scores[i] for i in per_set]  # val RMSE
            extra["layer_sweep"] = sweep_record(store, sets, [m[0].compute() for m in scored], selection)
        return TaskOutput(
            trivial=trivial,
            metrics=plain.compute(),
            extra_metrics={
                "scale_invariant": median_aligned.compute(),
                "valid_fraction": fractions,
                "scoring": scoring,
                **extra,
            },
            chosen={**grid.specs[chosen].describe(), "val_rmse": -scores[chosen]},
            grid=grid_table(grid.specs, scores, iters),
            head_state=dict(grid.heads[chosen].state_dict()),
            head=head_summary(options.head, grid.heads[chosen], layers),
            settings={
                "layers": layers,
                "head": options.head,
                "prediction": options.prediction,
                "dpt_features": options.dpt_features if options.head == "dpt" else None,
                "with_cls": with_cls,
                "min_depth": o["min_depth"],
                "max_depth": o["max_depth"],
                "n_bins": o["n_bins"],
                "bin_spacing": o["bin_spacing"],
                "loss": f"silog + {gradient_weight} x gradient (spatial, MegaDepth-style; see probes/losses.py)",
                "crop": crop,
                "crop_source": crop_source(frame, crop, boxes),
                "score_at": frame,
                "protocol": options.protocol,
                "upsample": 4,
                "train": asdict(train),
            },
            history=result.history,
            schedule=result.schedule,
            train_losses=result.head_losses[:, chosen],
            samples=[plain.samples()],
        )

    def build_head(self, settings: Mapping[str, Any], embed_dim: int) -> torch.nn.Module:
        """The readout on the layers' grids (upsampling x4), or after the DPT decoder (at 4x already). Results
        written before `--head linear|dpt` name the readout `head` and have no `prediction`."""
        prediction = settings.get("prediction", settings["head"])
        kind = "dpt" if settings["head"] == "dpt" else "linear"
        factory = HEADS.get(prediction)
        return dense_head(
            kind,
            embed_dim,
            len(settings["layers"]),
            bool(settings.get("with_cls")),
            int(settings.get("dpt_features") or 0),
            lambda dim: factory(dim, settings, 4 if kind == "linear" else 1),
        )

    def predict(
        self,
        head: torch.nn.Module,
        settings: Mapping[str, Any],
        batch: Mapping[str, torch.Tensor],
        size: tuple[int, int],
    ) -> torch.Tensor:
        """(B, H, W) depth in metres, upsampled to `size` as evaluated."""
        return upsampled_depth(head(head_input(dict(batch), None)), size)


def valid_fractions(splits: Splits, valid_range: tuple[float, float], batch_size: int) -> dict[str, float]:
    """Per split, the fraction of target pixels inside (min_depth, max_depth) (NaN and inf never are).

    A split without one valid pixel would train on a zero loss or select on no images at all: refused.
    """

    def read(store: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:  # targets only
        return {"depth": store.read_target("depth", begin, end)}

    low, high = valid_range
    fractions = {}
    for name, view in (("train", splits.train), ("val", splits.val), ("test", splits.test)):
        if view is None:
            continue
        valid = total = 0
        for arrays in iterate_batches(view, read, batch_size):
            depth = arrays["depth"]
            valid += int(((depth > low) & (depth < high)).sum())  # NaN compares False
            total += depth.size
        if not valid:
            raise ProbekitError(
                f"{view.store.path}: the {name} split has no valid depth pixels (all NaN, inf, <= 0 "
                f"or outside {low:g}..{high:g} m): check its depth targets, or set --min-depth/--max-depth"
            )
        fractions[name] = valid / total
    return fractions


def crop_source(frame: str, crop: str | None, boxes: bool) -> str | None:
    """Where the evaluation crop was applied, for the JSON."""
    if crop is None:
        return None
    if frame == "original":
        return "fractions of the original frame (the toolbox's indices)"
    return "per-sample eval_crop boxes" if boxes else "fractions of the stored shape"


class FinalScorer:
    """Depth metrics of the chosen head on the final split in the scoring frame (probekit/tasks/dense.py).

    In the original frame the toolbox's crop is applied as fractions of the original shape (its own
    indices: NYU's Eigen box at 480x640, KITTI's Garg box of the raw frame), and original pixels the stored
    image never saw count as invalid; `scored_fraction` says how many valid cropped pixels were scored.
    """

    def __init__(
        self,
        split: StoreView,
        frame: str,
        layers: list[int],
        with_cls: bool,
        o: dict[str, Any],
        crop: Crop,
        boxes: bool,
        device: torch.device,
    ):
        self.split, self.frame, self.layers, self.with_cls, self.device = split, frame, layers, with_cls, device
        self.min_depth, self.max_depth = float(o["min_depth"]), float(o["max_depth"])
        self.crop, self.boxes = crop, boxes
        self.stored_hw = spatial_size_of(split.store, "depth")

    def inputs(self, store: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:
        arrays = {"x": read_patch_grid(store, begin, end, self.layers)}
        if self.with_cls:
            arrays["cls"] = read_cls(store, begin, end, self.layers)
        return arrays

    def truth(self, store: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:
        if self.frame == "original":
            return {"depth": object_column(store.read_originals("depth", begin, end))}
        arrays = {"depth": store.read_target("depth", begin, end)}
        if self.boxes:
            arrays["eval_crop"] = store.read_target("eval_crop", begin, end)
        return arrays

    def metrics(self, alignment: Alignment = None) -> DepthMetrics:
        crop = self.crop if self.frame == "original" or not self.boxes else None  # boxes replace the named crop
        return DepthMetrics(min_depth=self.min_depth, max_depth=self.max_depth, crop=crop, alignment=alignment)

    def score(
        self,
        views: list[TestView],
        predict: Callable[[dict[str, torch.Tensor]], torch.Tensor],
        batch_size: int,
        scoring: dict[str, Any] | None = None,
    ) -> tuple[DepthMetrics, DepthMetrics]:
        """(plain, median-aligned) metrics of the depth maps averaged over the views; fills `scoring`."""
        plain, aligned = self.metrics(), self.metrics("median")
        valid = seen = 0

        def maps(batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return predict(batch)[:, None]  # (B, 1, h, w)

        for pred, inside, truth in frame_predictions(
            self.split, views, self.inputs, self.truth, maps, self.frame, self.stored_hw, False, batch_size, self.device
        ):
            target = torch.as_tensor(np.asarray(truth["depth"], dtype=np.float32), device=pred.device)[None]  # (1,H,W)
            box = torch.as_tensor(truth["eval_crop"])[None] if "eval_crop" in truth else None
            counted = valid_depth_mask(target, self.min_depth, self.max_depth, plain.crop)[0]  # (H, W)
            valid, seen = valid + int(counted.sum()), seen + int((counted & inside).sum())
            target = torch.where(inside, target, torch.zeros_like(target))  # unseen pixels: invalid (0)
            for metric in (plain, aligned):
                metric.update(pred, target, box)
        if scoring is not None:
            scoring["scored_fraction"] = seen / valid if valid else None
            warning = fraction_warning(seen, valid, "valid depth")
            if warning:
                scoring["warning"] = f"{self.split.name}: {warning}"
        return plain, aligned


def _mean_depth_baseline(
    train: StoreView,
    final: StoreView,
    o: dict[str, Any],
    crop: Crop,
    boxes: bool,
    batch_size: int,
    scorer: FinalScorer | None = None,
) -> dict[str, Any]:
    """A constant prediction: the mean of the valid training depths (scored like the head when `scorer`)."""

    def read(store: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:  # targets only
        arrays = {"depth": store.read_target("depth", begin, end)}
        if boxes:
            arrays["eval_crop"] = store.read_target("eval_crop", begin, end)
        return arrays

    total, count = 0.0, 0
    for arrays in iterate_batches(train, read, batch_size):
        depth = arrays["depth"]
        valid = (depth > o["min_depth"]) & (depth < o["max_depth"])
        total, count = total + float(depth[valid].sum()), count + int(valid.sum())
    mean = total / max(count, 1)
    if scorer is not None:

        def constant(batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return torch.full(batch["x"].shape[:3], mean, device=batch["x"].device)  # (B, h, w)

        plain, _ = scorer.score([TestView(final.store, 1.0, False)], constant, batch_size)
        return {"predictor": f"mean training depth ({mean:.3f} m)", **plain.compute()}
    metric = DepthMetrics(min_depth=o["min_depth"], max_depth=o["max_depth"], crop=crop)
    for arrays in iterate_batches(final, read, batch_size):
        target = torch.from_numpy(arrays["depth"])
        metric.update(torch.full_like(target, mean), target, torch.from_numpy(arrays["eval_crop"]) if boxes else None)
    return {"predictor": f"mean training depth ({mean:.3f} m)", **metric.compute()}


TASKS.register("depth", DepthTask())
