"""The normals probe: it reads normals the features hold, is no better than the mean normal on noise, and
learns on extracted synthetic scenes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from probekit.errors import ProbekitError, StoreError
from probekit.features.store import FeatureStore
from probekit.tasks import TASKS, run_probe
from tests.store_factory import write_store

N, h, w, P = 32, 4, 4, 4  # 32 images of 16x16 px, 4x4 patches of 4 px
ATTRS = {"frame": "OpenCV camera", "source": "test: a linear field"}


def _fields(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per image a vector field linear in the pixel position: its values at the patch centres (N, h, w, 3) and
    its unit directions at every pixel (N, 16, 16, 3) (bilinear upsampling reproduces a linear field)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(N, 1, 1, 3)) + np.array([0.0, 0.0, -3.0])  # mostly facing the camera
    slope_y, slope_x = rng.normal(scale=0.15, size=(2, N, 1, 1, 3))

    def field(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return base + slope_y * rows[None, ..., None] + slope_x * cols[None, ..., None]

    patch_rows, patch_cols = np.mgrid[0:h, 0:w] * P + P / 2
    pixel_rows, pixel_cols = np.mgrid[0 : h * P, 0 : w * P] + 0.5
    pixels = field(pixel_rows, pixel_cols)
    return field(patch_rows, patch_cols), pixels / np.linalg.norm(pixels, axis=-1, keepdims=True)


def _stores(tmp_path, informative: bool) -> dict:
    paths = {}
    for split, seed in (("train", 0), ("val", 1)):
        at_patches, normals = _fields(seed)
        normals[:, :2, :2] = 0  # a few invalid pixels, as stored
        features = at_patches if informative else np.random.default_rng(seed + 10).normal(size=(N, h, w, 3))
        targets = {"normals": (normals.astype(np.float16), ATTRS)}
        paths[split] = write_store(tmp_path / f"{split}-{informative}.h5", features.astype(np.float32), targets)
    return paths


def _probe(tmp_path, stores, **options) -> dict:
    path = run_probe(
        "normals",
        stores["train"],
        tmp_path / "out",
        val=stores["val"],
        options=TASKS.get("normals").parse_options({"lrs": (3e-2,), "iters": 150, "batch_size": 16, **options}),
        progress=False,
    )
    return json.loads(path.read_text())


def test_normals_probe_reads_normals_from_features(tmp_path):
    result = _probe(tmp_path, _stores(tmp_path, informative=True))
    metrics, trivial = result["metrics"], result["trivial_baseline"]
    assert metrics["mean_angle"] < 3.0 and metrics["within_11_25"] > 0.97
    assert trivial["mean_angle"] > 3 * metrics["mean_angle"] and trivial["predictor"].startswith("mean training normal")
    assert metrics["num_pixels"] == N * (16 * 16 - 4)  # the invalid pixels are not scored
    assert result["normals_source"] == {"train": ATTRS["source"], "test": ATTRS["source"]}
    assert result["per_image"]["within_30"] > 0.99
    assert not [w for w in result["warnings"] if w["cause"] == "below_trivial"]


def test_the_l1_loss_trains_the_head_too(tmp_path):
    result = _probe(tmp_path, _stores(tmp_path, informative=True), loss="l1")
    assert result["metrics"]["mean_angle"] < 0.5 * result["trivial_baseline"]["mean_angle"]
    assert result["probe"]["settings"]["loss"] == "l1"


def test_normals_probe_on_noise_is_no_better_than_the_mean_normal(tmp_path):
    result = _probe(tmp_path, _stores(tmp_path, informative=False))
    assert result["metrics"]["mean_angle"] > 0.9 * result["trivial_baseline"]["mean_angle"]


def test_normals_probe_defaults_are_probe3ds_schedule():
    options = TASKS.get("normals").parse_options({})
    config = options.train_config()
    assert (config.epochs, config.iters, config.batch_size, config.optimizer) == (10, None, 8, "adamw")
    assert (config.warmup_fraction, config.warmup_ratio) == (0.15, 0.01)
    assert (options.lrs, options.weight_decays) == ((5e-4,), (0.01,))
    assert TASKS.get("normals").parse_options({"iters": 300}).train_config().iters == 300


def test_original_resolution_scoring_is_refused_with_a_line():
    with pytest.raises(ProbekitError, match="unknown score_at"):
        TASKS.get("normals").parse_options({"score_at": "original"})


def test_a_store_without_normals_names_the_target(tmp_path):
    store = write_store(
        tmp_path / "train.h5", np.zeros((N, h, w, 3), np.float32), {"label": (np.zeros(N, np.int64), {})}
    )
    with pytest.raises(ProbekitError, match="no 'normals' target"):
        run_probe("normals", store, tmp_path / "out", options=TASKS.get("normals").parse_options({"iters": 1}))


def test_normals_probe_learns_on_extracted_synthetic_scenes(tiny_store, tmp_path):
    """Random-init test-DINOv2 features of 12 rendered scenes: the probe fits the scenes' exact normals better
    than the mean normal does (scored on the same, train-like, scenes)."""
    path = run_probe(
        "normals",
        tiny_store,
        tmp_path / "out",
        val=tiny_store,
        options=TASKS.get("normals").parse_options({"lrs": (3e-2,), "iters": 100, "batch_size": 6}),
        progress=False,
    )
    result = json.loads(path.read_text())
    assert result["metrics"]["mean_angle"] < result["trivial_baseline"]["mean_angle"]
    assert FeatureStore(tiny_store).file["targets/normals"].compression == "gzip"  # a map, compressed like depth
    assert result["normals_source"]["train"].startswith("rendered")


def test_stores_whose_normals_have_other_axes_are_refused(tmp_path):
    """A ground-truth file's normals (axes as the file gives them) and derived ones cannot be mixed."""
    stores = _stores(tmp_path, informative=True)
    _, normals = _fields(2)
    other = write_store(
        tmp_path / "test.h5",
        np.zeros((N, h, w, 3), np.float32),
        {"normals": (normals.astype(np.float16), {**ATTRS, "frame": "as given by the ground-truth file"})},
    )
    with pytest.raises(StoreError, match="disagree on target 'normals' frame"):
        run_probe("normals", stores["train"], tmp_path / "out", val=stores["val"], test=other, progress=False)
