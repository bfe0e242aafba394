"""Layer sweeps (`--sweep-layers all|LIST`): one head grid per stored layer, trained in one pass over the store.

`--layers 8,9,10,11` concatenates layers into one input (DINOv2's lin.4); `--sweep-layers 0,3,6` (or `all`)
instead trains the task's whole lr x wd grid on each listed layer alone, all heads in the same `fit`, so every
batch of the store is read once for all layers. Each layer's heads start from the seed as a single-layer run's
do (the seed is reset before each layer's grid is built) and see the same batches, so a sweep's per-layer
numbers are those of separate `--layers K` runs. Selection is over the whole grid: the best (layer, lr, wd) on
val gives the reported `metrics`; each layer's best head is scored on the evaluation split for `layer_sweep`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore
from probekit.probes.trainer import HeadGrid, HeadSpec
from probekit.tasks.base import SWEEP_ALL, choose_layers, patch_width


def layer_sets(store: FeatureStore, layers: tuple[int, ...] | None, sweep: str | None, default: str) -> list[list[int]]:
    """The layers each group of heads reads: one group of the chosen layers (concatenated), or one per swept layer."""
    if sweep is None:
        return [choose_layers(store, layers, default)]
    if sweep.strip() == SWEEP_ALL:
        return [[k] for k in store.layers]
    return [[k] for k in choose_layers(store, [int(item) for item in sweep.split(",")])]


def stacked(sets: Sequence[list[int]], read: Callable[[list[int]], np.ndarray]) -> np.ndarray:
    """(B, S, ...) each layer set's arrays stacked on axis 1 (no copy for one set)."""
    if len(sets) == 1:
        return read(sets[0])[:, None]
    return np.stack([read(layers) for layers in sets], axis=1)


def sweep_specs(sets: Sequence[list[int]], specs: Sequence[HeadSpec]) -> list[HeadSpec]:
    """The grid repeated per layer set, each spec naming its layer (a plain run's specs stay as they are)."""
    if len(sets) == 1:
        return list(specs)
    return [HeadSpec(s.lr, s.weight_decay, {"layer": layers[0], **s.variant}) for layers in sets for s in specs]


def set_index(sets: Sequence[list[int]]) -> Callable[[HeadSpec], int]:
    """spec -> the position of its layer set on the stacked axis (0 for a plain run)."""
    position = {layers[0]: j for j, layers in enumerate(sets)}
    return lambda spec: position[spec.variant["layer"]] if "layer" in spec.variant else 0


def build_grid(
    sets: Sequence[list[int]],
    specs: Sequence[HeadSpec],
    make_head: Callable[[HeadSpec], nn.Module],
    inputs: Callable[[dict[str, torch.Tensor], HeadSpec], torch.Tensor],
    seed: int,
) -> HeadGrid:
    """The heads of every layer set; the seed is reset before each set's heads, so each set's heads start as a
    single-layer run's heads (`specs` are the per-set grid, `sweep_specs` of it is the grid built; `make_head`
    gets the built spec, whose variant names the layer in a sweep: stages of a feature-map backbone differ in
    width)."""
    built = sweep_specs(sets, specs)
    heads: list[nn.Module] = []
    for j in range(len(sets)):
        torch.manual_seed(seed)
        heads += [make_head(spec) for spec in built[j * len(specs) : (j + 1) * len(specs)]]
    return HeadGrid(heads, built, inputs)


def best_per_set(sets: Sequence[list[int]], per_set: int, scores: Sequence[float]) -> list[int]:
    """Each layer set's best head (grid index; ties go to the first, as `best_index`)."""
    best = []
    for j in range(len(sets)):
        block = range(j * per_set, (j + 1) * per_set)
        best.append(max(block, key=lambda i: (scores[i], -i)))
    return best


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The single-number metrics of a run (confusion matrices and per-class lists stay out of the sweep)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def sweep_record(
    store: FeatureStore, sets: Sequence[list[int]], metrics: Sequence[dict[str, Any]], selection: Sequence[float]
) -> list[dict[str, Any]]:
    """The results JSON's `layer_sweep`: per layer, its depth in the network (0-1), its best head's evaluation
    metrics and the validation score that picked that head."""
    depth = int(store.attrs["depth"])
    return [
        {
            "layer": int(layers[0]),
            "relative_depth": (int(layers[0]) + 1) / depth,
            "metrics": scalar_metrics(dict(values)),
            "selection": float(score),
        }
        for layers, values, score in zip(sets, metrics, selection, strict=True)
    ]


def dense_layer_dim(store: FeatureStore, sets: Sequence[list[int]], task: str) -> int:
    """The channels of one layer's patch grid, the same for every layer of every set: a dense head concatenates
    its layers cell by cell and a sweep stacks the sets' grids on one axis, so stages of a feature-map backbone
    with other grids or widths are refused in one line."""
    for layers in sets:
        patch_width(store, layers, task)  # one grid within a set, else its one-line refusal
    dims = {store.dim_of(k) for layers in sets for k in layers}
    grids = {store.grid_of(layers[0]) for layers in sets}
    if len(dims) > 1 or len(grids) > 1:
        shapes = ", ".join(f"{k}: {store.grid_of(k)} x {store.dim_of(k)}" for layers in sets for k in layers)
        raise ProbekitError(
            f"{store.path.name}: the {task} head needs one grid and width for all its layers, these differ "
            f"({shapes}); use layers of one stage (one stride and width)"
        )
    return dims.pop()
