"""Surface normals from cached patch grids: Probe3D's linear normal probe.

Head: a 1x1 conv from the patch grid (the chosen layers concatenated) to 3 channels, its output upsampled
bilinearly to the target size (Probe3D upsamples the features x4 before the conv; both are linear, so the
order does not change the map) and normalised to unit length. Loss: Probe3D's angular loss (or its L1),
over pixels with a target normal (probekit/probes/normal_losses.py). Metrics: angular error statistics over
valid pixels (probekit/metrics/normals.py). Selection: mean angular error on val. Trivial baseline: every
pixel predicted as the mean training normal. Scoring is on the stored targets (`score_at stored`, base
store only: `protocol lin`): normals are not kept under /originals, and a mirrored view's normals would
need their x component flipped as well, which the +ms averaging of probekit/tasks/dense.py does not do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from probekit.device import resolve_device
from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore
from probekit.metrics.normals import NormalMetrics, unit_vectors, valid_normal_mask
from probekit.probes.normal_losses import LOSSES
from probekit.probes.resize import resize_bilinear
from probekit.probes.stream import StoreView, iterate_batches
from probekit.probes.trainer import SCHEDULERS, HeadGrid, HeadSpec, TrainConfig, to_device
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
from probekit.tasks.dense import DenseOptions, dense_head, dense_layers, head_summary
from probekit.tasks.segmentation import read_patch_grid
from probekit.tasks.sweep import dense_layer_dim


@dataclass(frozen=True)
class NormalsOptions(DenseOptions):
    """Linear surface normals: Probe3D's probe (configs/snorm_training.yaml, configs/optimizer/ten_epoch.yaml)."""

    # Probe3D ten_epoch.yaml: 10 epochs, 1.5 of them a linear warm-up from 0.01 x the rate (evals/utils/optim.py).
    protocol_epochs: ClassVar[int] = 10
    protocol_warmup_fraction: ClassVar[float] = 0.15
    protocol_warmup_ratio: ClassVar[float] = 0.01

    lrs: tuple[float, ...] = option((5e-4,), "Learning-rate grid (Probe3D: probe_lr 5e-4).")
    weight_decays: tuple[float, ...] = option((0.01,), "Weight-decay grid (Probe3D: AdamW's default, 0.01).")
    iters: int | None = option(None, "Training length in optimizer steps (default: Probe3D's 10 epochs).")
    batch_size: int = option(8, "Training batch size, in images (Probe3D: 8).")
    optimizer: str = option("adamw", "Optimiser (Probe3D: AdamW).", choices=("sgd", "adamw"))
    scheduler: str = option(
        "cosine", "Learning-rate decay after the warm-up (Probe3D: cosine, to 0.01 x the rate).", choices=SCHEDULERS
    )
    val_subset: int | None = option(
        250, "Periodic validations read N val images, strided (the final choice reads all of val; 0: all)."
    )
    loss: str = option(
        "angular", "Loss: angular (Probe3D's default) | l1 (Probe3D's snorm_l1_loss).", choices=("angular", "l1")
    )
    score_at: str = option(
        "stored",
        "Normals are scored on the stored targets (no original-resolution normals are kept).",
        choices=("stored",),
    )
    protocol: str = option(
        "lin", "Test protocol: lin (the base store; +ms is not implemented for normals).", choices=("lin",)
    )

    def check(self) -> None:
        if self.loss not in LOSSES:
            raise ProbekitError(f"--loss must be angular or l1, not {self.loss!r}")
        if self.score_at != "stored" or self.protocol != "lin":
            raise ProbekitError(
                f"the normals task scores at --score-at stored with --protocol lin only, not "
                f"{self.score_at}/{self.protocol}: original-resolution normals and +ms views are not implemented"
            )

    def train_config(self, device: str = "auto") -> TrainConfig:
        """Probe3D's schedule: 10 epochs (not a step count) unless --iters/--epochs say otherwise, warming up over
        15% of the run from 0.01 x the rate."""
        config = super().train_config(device)
        if self.iters is None and self.epochs is None:
            config = replace(config, iters=None, epochs=self.protocol_epochs)
        if self.warmup_iters is None and self.warmup_fraction is None:
            config = replace(config, warmup_fraction=self.protocol_warmup_fraction)
        return config


class NormalsHead(nn.Module):
    """1x1 conv from (B, C, h, w) patch features to (B, 3, h, w) normals (not yet normalised or upsampled)."""

    def __init__(self, in_dim: int):
        super().__init__()
        self.conv = nn.Conv2d(in_dim, 3, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(x)  # (B, 3, h, w)
        return out


def head_input(batch: dict[str, torch.Tensor], spec: HeadSpec | None) -> torch.Tensor:
    return batch["x"].permute(0, 3, 1, 2)  # (B, h, w, C) -> (B, C, h, w)


def target_normals(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return batch["normals"].float().permute(0, 3, 1, 2)  # (B, H, W, 3) -> (B, 3, H, W)


def upsampled_normals(pred: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, 3, h, w) head output -> (B, 3, H, W) unit normals at the target size (bilinear, then normalised)."""
    return unit_vectors(resize_bilinear(pred, size))  # F.normalize(..., dim=1), without its slow CPU norm


class NormalsTask(TaskBase):
    name = "normals"
    options_type = NormalsOptions
    main_metrics = ("mean_angle", "within_11_25")
    columns = (
        Column("mean_angle", "normals mean°", False, False, decimals=1),
        Column("within_11_25", "normals <11.25°", True, True),
    )
    trivial_name = "mean normal"
    outputs = ("patch",)
    truth_target = "normals"

    def run(self, splits: Splits, options: NormalsOptions, device: str, progress: bool) -> TaskOutput:
        store = splits.train.store
        train = options.train_config(device)
        require_target(store, "normals", self.name)
        final = splits.test or splits.val
        require_target(final.store, "normals", self.name)
        layers = dense_layers(store, options)  # --layers, else the last stored (linear) or the quarters' ends (dpt)
        loss_fn = LOSSES[options.loss]

        def read(s: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:
            return {"x": read_patch_grid(s, begin, end, layers), "normals": read_targets(s, begin, end)["normals"]}

        def loss(pred: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            target = target_normals(batch)
            up = resize_bilinear(pred, spatial_size(target))  # (B, 3, H, W)
            return loss_fn(up, target, valid_normal_mask(target))

        specs = [HeadSpec(lr, wd) for lr in options.lrs for wd in options.weight_decays]
        torch.manual_seed(train.seed)
        layer_dim = dense_layer_dim(store, [layers], self.name)  # refuses stages of different grids in one line
        settings = {"head": options.head, "layers": layers, "dpt_features": options.dpt_features}
        grid = HeadGrid([self.build_head(settings, layer_dim) for _ in specs], specs, head_input)
        torch_device = resolve_device(train.device)

        def evaluate(view: StoreView, heads: list[int]) -> list[NormalMetrics]:
            results = [NormalMetrics() for _ in heads]
            for arrays in iterate_batches(view, read, train.batch_size):
                batch = to_device(arrays, torch_device)
                x, target = head_input(batch, None), target_normals(batch)
                for metric, i in zip(results, heads, strict=True):
                    with torch.no_grad():
                        metric.update(upsampled_normals(grid.heads[i](x), spatial_size(target)), target)
            return results

        def validate(view: StoreView) -> list[float]:
            return [-m.compute()["mean_angle"] for m in evaluate(view, list(range(len(specs))))]

        result, scores, iters, chosen = fit_on_val(grid, loss, splits, read, train, options, validate, progress)
        scoring = evaluate(final, [chosen])[0]
        final_scores = scoring.compute()
        sources = {name: normals_source(view.store) for name, view in (("train", splits.train), ("test", final))}
        return TaskOutput(
            trivial=mean_normal_baseline(splits.train, final, train.batch_size),
            metrics={key: value for key, value in final_scores.items() if key != "per_image"},
            extra_metrics={
                "per_image": final_scores["per_image"],
                "normals_source": sources,
                "scoring": {"score_at": "stored", "protocol": "lin"},
            },
            chosen={**specs[chosen].describe(), "val_mean_angle": -scores[chosen]},
            grid=grid_table(specs, scores, iters),
            head_state=dict(grid.heads[chosen].state_dict()),
            settings={
                "layers": layers,
                "head": options.head,
                "readout": "1x1 conv to 3 channels, bilinear to the target size, normalised",
                "dpt_features": options.dpt_features if options.head == "dpt" else None,
                "loss": options.loss,
                "normals_source": sources,
                "score_at": "stored",
                "protocol": "lin",
                "train": asdict(train),
            },
            history=result.history,
            schedule=result.schedule,
            train_losses=result.head_losses[:, chosen],
            samples=[scoring.samples()],
            head=head_summary(options.head, grid.heads[chosen], layers),
        )

    def predict(
        self,
        head: nn.Module,
        settings: Mapping[str, Any],
        batch: Mapping[str, torch.Tensor],
        size: tuple[int, int],
    ) -> torch.Tensor:
        """(B, H, W, 3) unit normals in the camera frame at `size`, as evaluated (the stored targets' layout)."""
        return upsampled_normals(head(head_input(dict(batch), None)), size).permute(0, 2, 3, 1)

    def build_head(self, settings: Mapping[str, Any], embed_dim: int) -> nn.Module:
        """The 1x1 conv readout on the layers' grids (linear), or after the DPT decoder (--head dpt)."""
        kind = "dpt" if settings.get("head") == "dpt" else "linear"
        features = int(settings.get("dpt_features") or 0)
        return dense_head(kind, embed_dim, len(settings["layers"]), False, features, NormalsHead)


def read_targets(store: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:
    """The stored normals of samples [begin, end) as float32 (B, H, W, 3) (stored float16)."""
    return {"normals": store.read_target("normals", begin, end).astype(np.float32)}


def normals_source(store: FeatureStore) -> str:
    """Where a store's normals come from (rendered, a ground-truth file, derived from depth): its target attr."""
    return str(store.target_attrs("normals").get("source", "unknown (stored before sources were recorded)"))


def mean_normal_baseline(train: StoreView, final: StoreView, batch_size: int) -> dict[str, Any]:
    """Every pixel predicted as the mean of the valid training normals (normalised), scored like the head."""
    total, count = np.zeros(3), 0
    for arrays in iterate_batches(train, read_targets, batch_size):
        n = arrays["normals"].reshape(-1, 3).astype(np.float64)  # (B*H*W, 3)
        n = n[(n * n).sum(1) > 0.25]  # the valid ones
        total, count = total + (n / np.linalg.norm(n, axis=1, keepdims=True)).sum(0), count + len(n)
    if count == 0:
        raise ProbekitError(f"{train.store.path}: the training split has no valid normals (all (0, 0, 0))")
    mean = total / max(float(np.linalg.norm(total)), 1e-12)
    metric = NormalMetrics()
    for arrays in iterate_batches(final, read_targets, batch_size):
        target = torch.from_numpy(arrays["normals"]).permute(0, 3, 1, 2)  # (B, 3, H, W)
        constant = torch.as_tensor(mean, dtype=torch.float32)[None, :, None, None].expand_as(target)
        metric.update(constant, target)
    scores = metric.compute()
    scores.pop("per_image")
    return {"predictor": f"mean training normal ({mean[0]:.3f}, {mean[1]:.3f}, {mean[2]:.3f})", **scores}


TASKS.register("normals", NormalsTask())
