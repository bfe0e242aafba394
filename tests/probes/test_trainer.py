"""The grid trains every head exactly as it would be trained alone, deterministically."""

import numpy as np
import torch
import torch.nn.functional as F

from probekit.probes.heads import LinearClassifier
from probekit.probes.trainer import HeadGrid, HeadSpec, TrainConfig, fit


def _data(seed=0, n=96, d=5, c=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = np.argmax(x @ rng.normal(size=(d, c)), axis=1).astype(np.int64)  # linearly separable
    return x, y


def _batches(x, y, batch=16):
    return lambda epoch: ({"x": x[i : i + batch], "y": y[i : i + batch]} for i in range(0, len(x), batch))


def _train(specs, x, y, config, evaluate=None):
    torch.manual_seed(0)
    heads = [LinearClassifier(x.shape[1], 3) for _ in specs]
    grid = HeadGrid(heads, specs, lambda batch, spec: batch["x"])
    result = fit(grid, lambda out, b: F.cross_entropy(out, b["y"]), _batches(x, y), 6, config, evaluate, progress=False)
    return grid, result


def test_grid_heads_train_as_if_alone():
    x, y = _data()
    config = TrainConfig(epochs=3, optimizer="sgd")
    specs = [HeadSpec(0.5, 0.0), HeadSpec(0.05, 1e-3)]
    grid, _ = _train(specs, x, y, config)
    for i, spec in enumerate(specs):
        torch.manual_seed(0)
        heads = [LinearClassifier(5, 3) for _ in specs]  # same init stream as in the grid
        alone = HeadGrid([heads[i]], [spec], lambda batch, s: batch["x"])
        fit(alone, lambda out, b: F.cross_entropy(out, b["y"]), _batches(x, y), 6, config, progress=False)
        for p, q in zip(grid.heads[i].parameters(), alone.heads[0].parameters(), strict=True):
            torch.testing.assert_close(p, q)


def test_training_is_deterministic_and_learns():
    x, y = _data()
    config = TrainConfig(epochs=20, optimizer="adamw")
    a, _ = _train([HeadSpec(0.05, 0.0)], x, y, config)
    b, _ = _train([HeadSpec(0.05, 0.0)], x, y, config)
    torch.testing.assert_close(a.heads[0].linear.weight, b.heads[0].linear.weight)
    accuracy = (a.heads[0](torch.from_numpy(x)).argmax(1).numpy() == y).mean()
    assert accuracy > 0.9


def test_best_weights_on_validation_are_kept_and_early_stopping_stops():
    x, y = _data()
    scores = iter([0.5, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    snapshots = []

    def evaluate(grid):
        snapshots.append(grid.heads[0].linear.weight.detach().clone())
        return [next(scores)]

    grid, result = _train([HeadSpec(0.1, 0.0)], x, y, TrainConfig(epochs=8, early_stopping=2), evaluate)
    assert result.best_epochs == [2] and result.best_scores == [0.9]
    assert result.epochs_run == 4  # epochs 3 and 4 did not improve
    torch.testing.assert_close(grid.heads[0].linear.weight, snapshots[1])
