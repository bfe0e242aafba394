"""The grid trains every head exactly as it would be trained alone, deterministically."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from probekit.errors import ProbekitError
from probekit.probes.heads import LinearClassifier
from probekit.probes.trainer import HeadGrid, HeadSpec, TrainConfig, fit, lr_factor


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

    config = TrainConfig(epochs=8, early_stopping=2, eval_every=6)  # 6 batches per epoch: one validation per epoch
    grid, result = _train([HeadSpec(0.1, 0.0)], x, y, config, evaluate)
    assert result.best_iters == [12] and result.best_scores == [0.9]
    assert result.steps == 24 and result.schedule["iters"] == 48  # validations 3 and 4 did not improve
    torch.testing.assert_close(grid.heads[0].linear.weight, snapshots[1])


def test_iters_count_optimizer_steps_across_epochs():
    x, y = _data()  # 96 samples, 6 batches of 16 per epoch
    epochs = []

    def batches(epoch):
        epochs.append(epoch)
        return _batches(x, y)(epoch)

    torch.manual_seed(0)
    grid = HeadGrid([LinearClassifier(5, 3)], [HeadSpec(0.1, 0.0)], lambda batch, spec: batch["x"])
    result = fit(grid, lambda out, b: F.cross_entropy(out, b["y"]), batches, 6, TrainConfig(iters=10), progress=False)
    assert result.steps == 10 and epochs == [1, 2]  # the stream restarts (new epoch, new shuffle) mid-run
    assert result.schedule["samples_seen"] == 160 and result.schedule["epochs_begun"] == 2
    assert result.head_losses.shape == (10, 1)
    assert [r["iter"] for r in result.history] == list(range(1, 11))  # eval_every default: a tenth of the run


def test_epochs_convert_to_iterations():
    x, y = _data()
    _, result = _train([HeadSpec(0.1, 0.0)], x, y, TrainConfig(epochs=3))
    assert result.steps == 18 and result.schedule["iters"] == 18 and result.schedule["from_epochs"] == 3


def test_train_config_takes_iters_or_epochs():
    with pytest.raises(ProbekitError, match="iters or as epochs"):
        TrainConfig(iters=10, epochs=2)
    with pytest.raises(ProbekitError, match="warmup_iters 10 must be below iters 10"):
        TrainConfig(iters=10, warmup_iters=10)


def test_poly_schedule_with_linear_warmup_is_mmcv_s():
    """mmcv PolyLrUpdaterHook, warmup="linear": base (1 - t/T)^p, times 1 - (1 - t/w)(1 - ratio) while t < w."""
    factor = lr_factor("poly", total=100, warmup=10, warmup_ratio=1e-6, power=1.0)
    for t in (0, 5, 9):
        regular = 1 - t / 100
        assert factor(t) == pytest.approx(regular * (1 - (1 - t / 10) * (1 - 1e-6)))
    assert factor(0) == pytest.approx(1e-6)
    assert factor(10) == pytest.approx(0.9) and factor(50) == pytest.approx(0.5) and factor(100) == 0.0


def test_cosine_schedule_is_torch_s():
    factor = lr_factor("cosine", total=40, warmup=0, warmup_ratio=1e-6, power=1.0)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    reference = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=40, eta_min=0)
    for t in range(40):
        assert factor(t) == pytest.approx(optimizer.param_groups[0]["lr"], abs=1e-9)
        optimizer.step()
        reference.step()


def test_final_evaluation_replaces_the_periodic_scores():
    x, y = _data()
    _, result = _train([HeadSpec(0.1, 0.0)], x, y, TrainConfig(iters=12), lambda grid: [0.5])
    torch.manual_seed(0)
    grid = HeadGrid([LinearClassifier(5, 3)], [HeadSpec(0.1, 0.0)], lambda batch, spec: batch["x"])
    final = fit(
        grid,
        lambda out, b: F.cross_entropy(out, b["y"]),
        _batches(x, y),
        6,
        TrainConfig(iters=12),
        lambda g: [0.5],
        progress=False,
        final_evaluate=lambda g: [0.25],
    )
    assert result.best_scores == [0.5] and final.best_scores == [0.25]
