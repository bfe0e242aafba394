"""What every probe task shares: splits (val given or held out), grid selection, and the task registry."""

from __future__ import annotations

import logging
import math
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
import torch

from probekit.errors import ProbekitError
from probekit.features.schemes import check_target_schemes
from probekit.features.store import FeatureStore
from probekit.metrics.bootstrap import PerImage
from probekit.probes.distributed import Ranks
from probekit.probes.stream import Reader, StoreView, count_batches, iterate_batches, strided_subset
from probekit.probes.trainer import SCHEDULERS, FitResult, HeadGrid, HeadSpec, TrainConfig, fit
from probekit.registry import Registry

log = logging.getLogger("probekit.probe")
HOLDOUT_EVERY = 10  # without a val store, every 10th training sample is held out for the grid selection


@dataclass(frozen=True)
class Splits:
    """Where the heads are trained, selected and finally evaluated."""

    train: StoreView
    val: StoreView
    test: StoreView | None

    @property
    def evaluated_on(self) -> str:
        return "test" if self.test is not None else "val"

    def describe(self) -> dict[str, Any]:
        return {
            "train": self.train.name,
            "val": self.val.name,
            "test": self.test.name if self.test is not None else None,
            "selected_on": "val",
            "evaluated_on": self.evaluated_on,
        }


def make_splits(
    train: FeatureStore, val: FeatureStore | None, test: FeatureStore | None, label_map: str = "none"
) -> Splits:
    """Validate the stores against each other (features and label schemes); hold out part of train when
    there is no val store. `label_map='names'` reads val/test class ids through train's class names."""
    for other in (val, test):
        if other is not None:
            train.check_compatible(other)
            check_target_schemes(train, other, label_map)
    if val is None:
        log.info("no --val store: selecting hyper-parameters on every %dth training sample (held out)", HOLDOUT_EVERY)
        if len(train) < 2 * HOLDOUT_EVERY:
            raise ProbekitError(
                f"{train.path} has {len(train)} samples: too few to hold out a validation part; pass --val"
            )
        return Splits(
            StoreView(train, HOLDOUT_EVERY, holdout=False),
            StoreView(train, HOLDOUT_EVERY, holdout=True),
            StoreView(test) if test is not None else None,
        )
    return Splits(StoreView(train), StoreView(val), StoreView(test) if test is not None else None)


def require_target(store: FeatureStore, name: str, task: str) -> None:
    if name not in store.targets:
        raise ProbekitError(
            f"{store.path} has no '{name}' target, which the {task} probe needs (targets: {store.targets})"
        )


@dataclass
class TaskOutput:
    """What a task run returns; the results JSON is assembled from it."""

    metrics: dict[str, Any]
    chosen: dict[str, Any]
    grid: list[dict[str, Any]]
    head_state: dict[str, torch.Tensor]
    settings: dict[str, Any]
    extra_metrics: dict[str, Any] = field(default_factory=dict)
    trivial: dict[str, Any] = field(default_factory=dict)  # the no-features baseline on the same split
    history: list[dict[str, Any]] = field(default_factory=list)
    schedule: dict[str, Any] = field(default_factory=dict)  # fit's record (steps planned and taken, ...); {} untrained
    train_losses: np.ndarray | None = None  # (steps,) the chosen head's training loss per step; None untrained
    samples: list[PerImage] = field(default_factory=list)  # per-image statistics of the final scoring, one per seed
    head: dict[str, Any] = field(default_factory=dict)  # the chosen head's kind and parameter count ({}: untold)


@dataclass(frozen=True)
class Column:
    """One column of a comparison table: a metric of the results JSON, its header and its direction."""

    key: str
    header: str
    higher_is_better: bool
    percent: bool
    decimals: int = 3  # digits after the point of a column that is not in percent (percent columns show 1)


def option(default: Any, help: str, choices: tuple[str, ...] = ()) -> Any:
    """A documented options field: `help` is the one line the CLI help and the docs show; `choices` the
    allowed values of a string (or of every item of a tuple of strings)."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class ProbeOptions:
    """What every task's options hold: the layers and the seed.

    A task subclasses it (`<Task>Options`, or `TrainedOptions` for a task that trains heads), re-declaring
    the fields whose defaults its protocol sets and adding its own; `check` raises a one-line ProbekitError
    for a bad value. Build them with `parse_options`.
    """

    layers: tuple[int, ...] | None = option(None, "Stored layers to use, e.g. -1 or 8,9,10,11 (default: the task's).")
    seed: int = option(0, "Seed for head init and batch order.")
    seeds: tuple[int, ...] | None = option(
        None, "Run once per seed, e.g. 0,1,2, and report the mean, std and each seed's metrics (instead of --seed)."
    )

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ProbekitError(f"seed must be a non-negative integer, not {self.seed!r}")
        if self.seeds is not None and (
            not self.seeds
            or len(set(self.seeds)) < len(self.seeds)
            or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in self.seeds)
        ):
            raise ProbekitError(f"seeds must be distinct non-negative integers, e.g. 0,1,2, not {self.seeds!r}")
        self.check()

    def check(self) -> None:
        """Raise ProbekitError naming the first bad task-specific value (tasks override)."""

    def describe(self) -> dict[str, Any]:
        """Every option as plain JSON values (the results JSON's `probe.options`, and the settings hash)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class TrainedOptions(ProbeOptions):
    """The options of a task that trains a grid of heads by gradient descent: the grid and the schedule.

    The run's length is counted in optimizer steps (`iters`); a task states its protocol's length and warm-up
    in `protocol_iters` / `protocol_warmup` / `protocol_warmup_ratio` (the defaults when neither --iters nor
    --epochs is given, cited in its docs page) and re-declares `scheduler` / `val_subset` where its protocol
    differs.
    """

    protocol_iters: ClassVar[int] = 1000
    protocol_warmup: ClassVar[int] = 0
    protocol_warmup_ratio: ClassVar[float] = 1e-6  # the warm-up starts at this fraction of the rate (mmcv 'linear')
    sweeps: ClassVar[bool] = False  # a task whose run trains a grid per layer (probekit/tasks/sweep.py) sets True

    lrs: tuple[float, ...] = option((1e-3,), "Learning-rate grid.")
    weight_decays: tuple[float, ...] = option((0.0,), "Weight-decay grid.")
    iters: int | None = option(None, "Training length in optimizer steps (default: the task's protocol).")
    epochs: int | None = option(
        None, "Training length in passes over the training features, converted to steps (not with --iters)."
    )
    warmup_iters: int | None = option(
        None, "Linear warm-up steps (default: the protocol's warm-up fraction of the run's steps)."
    )
    warmup_fraction: float | None = option(
        None, "Linear warm-up as a fraction of the run's steps, instead of --warmup-iters (default: the protocol's)."
    )
    scheduler: str = option("cosine", "Learning-rate decay after warm-up.", choices=SCHEDULERS)
    eval_every: int | None = option(None, "Validate every N optimizer steps (default: 10 validations per run).")
    val_subset: int | None = option(
        1000, "Periodic validations read N val samples, strided (the final choice reads all of val; 0: all)."
    )
    batch_size: int = option(128, "Training (and evaluation) batch size.")
    optimizer: str = option("sgd", "Optimiser of the heads.", choices=("sgd", "adamw"))
    early_stopping: int | None = option(None, "Stop after N validations without improvement (default: never).")
    sweep_layers: str | None = option(
        None,
        "Train the grid on each stored layer alone, all in one pass, and report the best on val: all | a list, "
        "e.g. 0,3,6 (not with --layers, which concatenates).",
    )

    def __post_init__(self) -> None:
        _check_grid(self.lrs, "lrs", low_open=True)
        _check_grid(self.weight_decays, "weight_decays", low_open=False)
        if self.iters is not None and self.epochs is not None:
            raise ProbekitError(
                f"iters {self.iters} and epochs {self.epochs} both give the training length: pass one of them"
            )
        if self.warmup_iters is not None and self.warmup_fraction is not None:
            raise ProbekitError(
                f"warmup_iters {self.warmup_iters} and warmup_fraction {self.warmup_fraction} both give the warm-up: "
                "pass one of them"
            )
        if self.val_subset is not None and self.val_subset < 0:
            raise ProbekitError(f"val_subset must be a non-negative integer (0: all of val), not {self.val_subset}")
        if self.sweep_layers is not None and not self.sweeps:
            raise ProbekitError(
                "--sweep-layers: this task trains no head per layer (classification, segmentation and depth do): "
                "run it once per layer with --layers K"
            )
        _check_sweep(self.sweep_layers, self.layers)
        self.train_config()  # counts (iters, epochs, batch size, ...) are checked by TrainConfig
        super().__post_init__()

    def train_config(self, device: str = "auto") -> TrainConfig:
        """The training loop's settings; `device` says where, not what, so it is not an option. Without --iters
        and --epochs the length is the protocol's; without --warmup-iters the warm-up keeps the protocol's
        fraction of the run (so --epochs and short presets warm up in proportion)."""
        iters = self.iters if self.iters is not None or self.epochs is not None else self.protocol_iters
        return TrainConfig(
            iters=iters,
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            seed=self.seed,
            device=device,
            early_stopping=self.early_stopping,
            eval_every=self.eval_every,
            scheduler=self.scheduler,
            warmup_iters=self.warmup_iters,
            warmup_fraction=(
                self.warmup_fraction if self.warmup_fraction is not None else self.protocol_warmup / self.protocol_iters
            ),
            warmup_ratio=self.protocol_warmup_ratio,
        )

    def validation_views(self, val: StoreView) -> tuple[StoreView, StoreView | None]:
        """The view periodic validations read (`val_subset` samples strided over val) and the view the final
        choice reads (all of val; None when the subset is all of val already)."""
        subset = strided_subset(val, self.val_subset)
        return subset, (val if len(subset) < len(val) else None)


OptionsT = TypeVar("OptionsT", bound=ProbeOptions)
SWEEP_ALL = "all"


def _check_sweep(value: str | None, layers: tuple[int, ...] | None) -> None:
    """`sweep_layers`: None, 'all' or comma-separated integers, and not with `layers` (one line otherwise)."""
    if value is None:
        return
    if value.strip() != SWEEP_ALL:
        try:
            wanted = [int(item) for item in value.split(",")]
        except ValueError:
            raise ProbekitError(
                f"--sweep-layers {value!r}: write all or comma-separated layer indices, e.g. --sweep-layers 0,3,6"
            ) from None
        if len(set(wanted)) < len(wanted):
            raise ProbekitError(f"--sweep-layers {value!r} names a layer twice: list each layer once")
    if layers:
        raise ProbekitError(
            "--layers and --sweep-layers both choose layers: --layers concatenates them into one head's input, "
            "--sweep-layers trains a head per layer; pass one of them"
        )


def _check_grid(values: tuple[float, ...], name: str, low_open: bool) -> None:
    """A learning-rate or weight-decay grid: non-empty, finite, lrs > 0 and weight decays >= 0."""
    if not values:
        raise ProbekitError(f"{name} must be a non-empty list of numbers")
    for value in values:
        if not math.isfinite(value) or value < 0 or (low_open and value == 0):
            raise ProbekitError(f"{name} holds {value!r}: use finite numbers {'> 0' if low_open else '>= 0'}")


def parse_options(kind: type[OptionsT], values: Mapping[str, Any], task: str = "") -> OptionsT:
    """`kind` from CLI strings or YAML values (None = the default): unknown names and bad values are one
    ProbekitError line naming the option and the valid names or values."""
    known = {f.name: f for f in fields(kind)}
    if unknown := sorted(set(map(str, values)) - set(known)):
        raise ProbekitError(f"{task or kind.__name__} has no option(s) {', '.join(unknown)}; valid: {', '.join(known)}")
    hints = typing.get_type_hints(kind)
    parsed = {}
    for name, value in values.items():
        if value is None:
            continue
        parsed[name] = _coerce(name, value, hints[name], known[name].metadata.get("choices", ()))
    return kind(**parsed)


def _coerce(name: str, value: Any, hint: Any, choices: tuple[str, ...]) -> Any:
    """One option value as the type `hint` says (int, float, str, bool, tuple[X, ...], X | None)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        items = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple)) else [value]
        result = tuple(_scalar(name, item, args[0], choices) for item in items)
        if not result:
            raise ProbekitError(f"option {name} needs at least one value")
        return result
    return _scalar(name, value, hint, choices)


def _scalar(name: str, value: Any, kind: Any, choices: tuple[str, ...]) -> Any:
    """One value of type `kind`: YAML gives it typed, the CLI as text."""
    text = value.strip() if isinstance(value, str) else value
    try:
        if kind is bool:
            if isinstance(text, str) and text.lower() in ("true", "false", "yes", "no", "1", "0"):
                return text.lower() in ("true", "yes", "1")
            if not isinstance(text, bool):
                raise ValueError
            return text
        if isinstance(text, bool) or kind not in (int, float, str):
            raise ValueError
        if kind is int and isinstance(text, float):
            raise ValueError
        result = kind(text)
    except ValueError:
        raise ProbekitError(
            f"option {name}: {value!r} is not {'an' if kind is int else 'a'} {getattr(kind, '__name__', kind)}"
        ) from None
    if choices and result not in choices:
        allowed = f"{', '.join(choices[:-1])} or {choices[-1]}" if len(choices) > 1 else choices[0]
        raise ProbekitError(f"unknown {name} {result!r}: use {allowed}")
    return result


class Task(Protocol):
    """A probe task: its options, how it trains and evaluates, predicts, and how tables show it."""

    # Read-only (properties here), so a task's class attributes may be narrower: a 2-tuple, its options class.
    @property
    def name(self) -> str: ...

    @property
    def options_type(self) -> type[ProbeOptions]: ...

    @property
    def main_metrics(self) -> tuple[str, ...]:
        """The headline metrics of the results (the table columns' keys)."""
        ...

    @property
    def columns(self) -> tuple[Column, ...]:
        """The comparison table's columns, in order."""
        ...

    @property
    def trivial_name(self) -> str:
        """The no-features baseline, as the table's first row names it."""
        ...

    @property
    def truth_target(self) -> str | None:
        """The store target a per-pixel prediction is compared with (None: the task has none)."""
        ...

    @property
    def distributed(self) -> bool:
        """Whether `run` trains data-parallel over torchrun ranks (probekit.probes.distributed); else refused."""
        ...

    def required_outputs(self, options: Any) -> tuple[str, ...]:
        """The feature outputs (cls, mean, patch) the task reads with these options: what `extract --outputs`
        must store for it (a suite extracts the union over its tasks)."""
        ...

    def evaluates_whole_store(self, options: Any) -> bool:
        """True when these options train nothing (zero-shot): `probe` with --features alone then evaluates that
        whole store instead of holding part of it out."""
        ...

    def deterministic(self, options: Any) -> str | None:
        """Why a run with these options does not depend on the seed (`--seeds` then runs once); None: it does."""
        ...

    def parse_options(self, values: Mapping[str, Any]) -> ProbeOptions: ...

    def run(self, splits: Splits, options: Any, device: str, progress: bool) -> TaskOutput: ...

    def build_head(self, settings: Mapping[str, Any], embed_dim: int) -> torch.nn.Module: ...

    def predict(
        self,
        head: torch.nn.Module,
        settings: Mapping[str, Any],
        batch: Mapping[str, torch.Tensor],
        size: tuple[int, int],
    ) -> torch.Tensor: ...


TASKS: Registry[Task] = Registry("task", ProbekitError)


def training_stream(
    view: StoreView, read: Reader, train: TrainConfig
) -> tuple[Callable[[int], Iterator[dict[str, np.ndarray]]], int]:
    """What `fit` needs to train on `view`: seeded, shuffled batches per epoch, and batches per epoch."""

    def batches(epoch: int) -> Iterator[dict[str, np.ndarray]]:
        return iterate_batches(view, read, train.batch_size, shuffle=True, seed=train.seed, epoch=epoch)

    return batches, count_batches(view, train.batch_size)


def fit_on_val(
    grid: HeadGrid,
    loss: Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor],
    splits: Splits,
    read: Reader,
    train: TrainConfig,
    options: TrainedOptions,
    validate: Callable[[StoreView], list[float]],
    progress: bool,
    ranks: Ranks | None = None,
) -> tuple[FitResult, list[float], list[int], int]:
    """Train every head of `grid` on the training split, validated every `eval_every` steps on the val subset
    and the final choice made on all of val (`options.validation_views`): fit's record, each head's best val
    score and its step, and the chosen head (the best; ties go to the first)."""
    periodic, full = options.validation_views(splits.val)
    result = fit(
        grid,
        loss,
        *training_stream(splits.train, read, train),
        train,
        lambda _: validate(periodic),
        progress,
        final_evaluate=(lambda _: validate(full)) if full is not None else None,
        ranks=ranks,
    )
    assert result.best_scores is not None and result.best_iters is not None  # fit was given the validation
    return result, result.best_scores, result.best_iters, best_index(result.best_scores)


def choose_layers(store: FeatureStore, layers: tuple[int, ...] | list[int] | None, default: str = "all") -> list[int]:
    """Stored layers to use, in block order (negative = from the end of the network). Without `layers`:
    every stored layer (`default='all'`) or the last stored one (`'last'`, dense tasks): always what the store has."""
    if not layers:
        return list(store.layers) if default == "all" else [store.layers[-1]]
    return sorted({store.resolve_layer(k) for k in layers})


def concat_width(store: FeatureStore, layers: Sequence[int]) -> int:
    """Channels of the chosen layers' vectors (cls, mean) concatenated: a feature-map backbone's stages differ."""
    return sum(store.dim_of(k) for k in layers)


def patch_width(store: FeatureStore, layers: Sequence[int], task: str) -> int:
    """Channels of the chosen layers' patch grids concatenated cell by cell. Layers whose grids differ (stages of
    a feature-map backbone) are refused, not resampled: a probe on resampled maps would be another protocol."""
    grids = {k: store.grid_of(k) for k in layers}
    if len(set(grids.values())) > 1:
        shapes = ", ".join(f"{k}: {h}x{w} (stride {store.stride_of(k)})" for k, (h, w) in grids.items())
        raise ProbekitError(
            f"{store.path.name}: the {task} task concatenates its layers cell by cell, but their patch grids differ "
            f"({shapes}); pass --layers with layers of one stride, e.g. --layers {layers[-1]}"
        )
    return concat_width(store, layers)


def grid_table(specs: Sequence[HeadSpec], scores: Sequence[float], iters: Sequence[int]) -> list[dict[str, Any]]:
    """Every head of the grid with its val score (full val) and the optimizer step of its best validation."""
    return [
        {**spec.describe(), "val_score": float(score), "best_iter": int(step)}
        for spec, score, step in zip(specs, scores, iters, strict=True)
    ]


def spatial_size(t: torch.Tensor) -> tuple[int, int]:
    """(H, W) of a (..., H, W) tensor, as the resize functions take it."""
    return int(t.shape[-2]), int(t.shape[-1])


def best_index(scores: list[float]) -> int:
    """The head with the best validation score; ties go to the first (smallest lr in grid order)."""
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


class TaskBase:
    """What a task inherits: option parsing through its `options_type`, and no pictures unless it defines them."""

    name: ClassVar[str]
    options_type: ClassVar[type[ProbeOptions]]
    main_metrics: ClassVar[tuple[str, ...]]
    columns: ClassVar[tuple[Column, ...]]
    trivial_name: ClassVar[str]
    truth_target: ClassVar[str | None] = None  # the store target a per-pixel prediction is compared with
    distributed: ClassVar[bool] = False  # trains data-parallel over torchrun ranks
    # the feature outputs the task reads (extract --outputs); a task that does not say needs all three
    outputs: ClassVar[tuple[str, ...]] = ("cls", "mean", "patch")

    def required_outputs(self, options: Any) -> tuple[str, ...]:
        """The feature outputs the task reads: its `outputs` (a task whose options change them overrides this)."""
        return self.outputs

    def evaluates_whole_store(self, options: Any) -> bool:
        """Whether these options train nothing, so --features alone is evaluated whole (zero-shot tasks override)."""
        return False

    def deterministic(self, options: Any) -> str | None:
        """Why the run does not depend on the seed; None (the default): it trains, so it does."""
        return None

    def parse_options(self, values: Mapping[str, Any]) -> Any:
        """This task's options from CLI strings or YAML values (see `parse_options`)."""
        return parse_options(self.options_type, values, f"the {self.name} task")

    def build_head(self, settings: Mapping[str, Any], embed_dim: int) -> torch.nn.Module:
        """The chosen head, untrained, as the results JSON's `probe.settings` describe it (load its weights next)."""
        raise ProbekitError(
            f"the {self.name} task has no per-pixel predictions to show: use a segmentation, depth or normals "
            "results JSON"
        )

    def predict(
        self,
        head: torch.nn.Module,
        settings: Mapping[str, Any],
        batch: Mapping[str, torch.Tensor],
        size: tuple[int, int],
    ) -> torch.Tensor:
        """(B, H, W) predictions ((B, H, W, 3) for normals) at `size` from batch {"x": (B, h, w, L*D) patch
        grids, "cls": (B, L*D)}."""
        raise ProbekitError(f"the {self.name} task has no per-pixel predictions to show")
