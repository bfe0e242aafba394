"""--seeds: one run per seed, mean / std / per_seed in the JSON; deterministic tasks run once and say why;
metrics_ci: bootstrap intervals of every task's main metrics over the evaluated images."""

from __future__ import annotations

import json

import numpy as np
import pytest

from probekit.errors import ProbekitError
from probekit.tasks import TASKS, run_probe
from probekit.tasks.results import settings_hash
from tests.store_factory import gaussian_blobs, global_feature_store, write_store


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeds")
    (xtr, ytr), (xva, yva) = gaussian_blobs(120, 0, spread=0.8), gaussian_blobs(80, 1, spread=0.8)
    return {
        "train": global_feature_store(root / "train.h5", xtr, ytr),
        "val": global_feature_store(root / "val.h5", xva, yva),
    }


def _run(task: str, stores: dict, out, **values) -> dict:
    options = TASKS.get(task).parse_options(values)
    path = run_probe(task, stores["train"], out, val=stores["val"], options=options, progress=False)
    return json.loads(path.read_text())


def test_seeds_train_once_per_seed_and_report_mean_std_and_each(blobs, tmp_path):
    quick = {"lrs": "0.1", "iters": 30, "pooling": "cls", "n_blocks": "1", "batch_size": 32}
    result = _run("classification", blobs, tmp_path, seeds="3,4,5", **quick)
    per_seed = result["per_seed"]
    assert [s["seed"] for s in per_seed] == [3, 4, 5] and result["seeds"]["runs"] == 3
    top1 = [s["metrics"]["top1"] for s in per_seed]
    assert result["metrics"]["top1"] == pytest.approx(np.mean(top1))
    assert result["metrics_std"]["top1"] == pytest.approx(np.std(top1))
    assert result["metrics"]["num_samples"] == 80 and "num_samples" not in result["metrics_std"]
    single = _run("classification", blobs, tmp_path / "one", seed=4, **quick)  # a seed of the set, alone
    assert single["metrics"]["top1"] == per_seed[1]["metrics"]["top1"]
    assert "per_seed" not in single and "seeds" not in single
    for key in ("top1", "mean_per_class_recall"):
        low, high = result["metrics_ci"][key]
        assert low <= result["metrics"][key] <= high and low < high
        low, high = single["metrics_ci"][key]
        assert low <= single["metrics"][key] <= high


def test_deterministic_tasks_run_once_and_say_so(blobs, tmp_path, caplog):
    with caplog.at_level("INFO", logger="probekit.probe"):
        result = _run("knn", blobs, tmp_path, seeds="0,1,2", ks="5")
    assert result["seeds"] == {
        "seeds": [0, 1, 2],
        "runs": 1,
        "deterministic": TASKS.get("knn").deterministic(None),
    }
    assert "per_seed" not in result and "metrics_std" not in result
    assert "kNN has no randomness" in caplog.text and "running once" in caplog.text
    assert set(result["metrics_ci"]) == {"top1", "mean_per_class_recall"}


def test_few_shot_draws_share_the_resamples(blobs, tmp_path):
    result = _run("knn", blobs, tmp_path, shots=5, shot_seeds=2, ks="1")
    low, high = result["metrics_ci"]["top1"]
    assert low <= result["metrics"]["top1"] <= high and len(result["per_seed"]) == 2


@pytest.mark.parametrize(
    ("task", "values", "message"),
    [
        ("knn", {"seeds": "0,1", "shots": 2}, "drop --seeds"),
        ("depth", {"seeds": "1,1"}, "seeds must be distinct non-negative integers"),
    ],
)
def test_bad_seeds_are_one_line(task, values, message):
    with pytest.raises(ProbekitError, match=message) as error:
        TASKS.get(task).parse_options(values)
    assert "\n" not in str(error.value)


def test_no_seeds_keeps_the_run_name(blobs, tmp_path):
    """Runs written before --seeds existed keep their file names (their settings hash)."""
    options = TASKS.get("knn").parse_options({"ks": "5"})
    assert "seeds" in options.describe()
    path = run_probe("knn", blobs["train"], tmp_path, val=blobs["val"], options=options, progress=False)
    described = {k: v for k, v in options.describe().items() if k != "seeds"}
    fingerprints = json.loads(path.read_text())["store_fingerprints"]
    assert path.stem.endswith(settings_hash("knn", fingerprints, described))


def _dense_stores(root) -> dict:
    """8 images of 16x16 px, 4x4 patches: features that hold the class and the depth, a little noisy."""
    paths = {}
    for split, seed in (("train", 0), ("val", 1)):
        rng = np.random.default_rng(seed)
        classes = rng.integers(0, 3, (8, 4, 4))
        depth = rng.uniform(1.0, 5.0, (8, 4, 4))
        features = np.concatenate([np.eye(3)[classes], np.log(depth)[..., None]], -1)
        features += rng.normal(0, 0.3, features.shape)
        targets = {
            "mask": (classes.repeat(4, 1).repeat(4, 2).astype(np.uint8), {"num_classes": 3, "ignore_index": 255}),
            "depth": (depth.repeat(4, 1).repeat(4, 2).astype(np.float32), {"min_depth": 0.5, "max_depth": 10.0}),
        }
        paths[split] = write_store(root / f"{split}.h5", features.astype(np.float32), targets)
    return paths


@pytest.mark.parametrize("task", ["segmentation", "depth"])
def test_dense_tasks_write_intervals_of_their_main_metrics(tmp_path, task):
    result = _run(task, _dense_stores(tmp_path), tmp_path / "out", lrs="0.03", iters=20, batch_size=4)
    assert set(result["metrics_ci"]) == set(TASKS.get(task).main_metrics)
    for key, (low, high) in result["metrics_ci"].items():
        assert low <= result["metrics"][key] <= high and low < high
