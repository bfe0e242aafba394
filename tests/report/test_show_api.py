"""probekit.report.show called directly (no CLI): each picture from a Source, with its summary and errors."""

from __future__ import annotations

import numpy as np
import pytest

from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore
from probekit.report.show import (
    show_correspondence,
    show_pca,
    show_prediction,
    show_similarity,
)
from probekit.report.sources import Source, load_views
from probekit.tasks import TASKS, run_probe

TINY = {"backbone": "test-dinov2", "random_init": True, "image_size": (56, 56)}


def test_pca_of_a_synthetic_pair():
    figure = show_pca(Source(synthetic=2, **TINY), gap=4)
    assert figure.image.shape == (56 + 4 + 56, 56 + 4 + 56, 3) and figure.image.dtype == np.uint8
    assert figure.info["summary"] == "2 image(s)"


def test_correspondence_at_given_points_keeps_them_in_original_pixels():
    figure = show_correspondence(Source(synthetic=2, **TINY), points=[(10.0, 20.0), (40.0, 7.0)])
    matches = figure.info["matches"]
    np.testing.assert_allclose(matches.src_xy, [[10.0, 20.0], [40.0, 7.0]])  # identity pixel map for synthetic pairs
    assert figure.info["summary"].startswith("2 matches, ")


def test_similarity_from_a_store_reads_the_stored_features(tiny_store):
    source = Source(features=tiny_store, indices=(0, 3))
    figure = show_similarity(source, (20.0, 30.0), gap=0)
    assert figure.image.shape == (56, 84 + 84, 3)
    x, y = figure.info["best_xy"]
    assert 0 <= x < 84 and 0 <= y < 56 and figure.info["summary"] == f"best match at {x:g},{y:g}"
    a, _ = load_views(source, count=2)
    with FeatureStore(tiny_store) as store:
        stored = store.read("patch", 0, 1, store.resolve_layer(None))[0]  # (h, w, D)
    np.testing.assert_array_equal(a.grid.numpy(), stored.astype(np.float32))
    assert a.name == "tiny.h5[0]" and a.image.shape == (56, 84, 3)


@pytest.mark.parametrize(
    ("source", "count", "message"),
    [
        (Source(), None, "nothing to show"),
        (Source(synthetic=1), 2, "no backbone"),
        (Source(synthetic=1, **TINY), 3, "needs 3 images, got 2"),
        (Source(synthetic=1, backbone="test-dinov2", random_init=True, image_size=(50, 50)), None, "try 56x56"),
    ],
)
def test_sources_refuse_with_one_line(source, count, message):
    with pytest.raises(ProbekitError, match=message) as error:
        load_views(source, count)
    assert "\n" not in str(error.value)


def test_a_point_outside_the_first_image_is_refused():
    with pytest.raises(ProbekitError, match=r"point 56,3 is outside synthetic pair 1 view a \(56x56"):
        show_similarity(Source(synthetic=1, **TINY), (56.0, 3.0))


@pytest.fixture(scope="module")
def seg_probe(tmp_path_factory, tiny_store):
    """A segmentation probe trained for one epoch on the tiny store (test-dinov2, random init seed 0)."""
    options = TASKS.get("segmentation").parse_options({"lrs": (1e-2,), "epochs": 1, "batch_size": 6})
    return run_probe(
        "segmentation", tiny_store, tmp_path_factory.mktemp("probe"), val=tiny_store, options=options, progress=False
    )


def test_prediction_rebuilds_the_probe_backbone_for_a_rendered_scene(seg_probe):
    figure = show_prediction([seg_probe], Source(synthetic=4))
    # image | truth | probe, each 56 x 84 (the probe's image size) under a caption strip
    assert figure.image.shape == (14 + 56, 3 * 84 + 2 * 8, 3)
    assert figure.info["summary"] == "1 image(s), segmentation"


def test_prediction_refuses_another_seed_than_the_probe_was_trained_on(seg_probe):
    with pytest.raises(ProbekitError, match=r"trained on .* features, not test-dinov2 \(random-init\(seed=5\)\)"):
        show_prediction([seg_probe], Source(synthetic=4, backbone="test-dinov2", random_init=True, seed=5))


def test_prediction_from_store_samples(seg_probe, tiny_store):
    figure = show_prediction([seg_probe], Source(features=tiny_store, indices=(1, 2)), gap=2)
    assert figure.image.shape == (2 * (14 + 56) + 2, 3 * 84 + 2 * 2, 3)
    with pytest.raises(ProbekitError, match="choose one input"):
        show_prediction([seg_probe], Source(features=tiny_store, indices=(1,), synthetic=3))


@pytest.fixture(scope="module")
def normals_probe(tmp_path_factory, tiny_store):
    """A normals probe trained for one epoch on the tiny store's rendered normals."""
    options = TASKS.get("normals").parse_options({"lrs": (1e-2,), "epochs": 1, "batch_size": 6})
    return run_probe(
        "normals", tiny_store, tmp_path_factory.mktemp("probe"), val=tiny_store, options=options, progress=False
    )


def test_normals_prediction_beside_its_truth_from_a_scene_and_from_a_store(normals_probe, seg_probe, tiny_store):
    from probekit.report.predict import load_head, predict_store

    figure = show_prediction([normals_probe], Source(synthetic=4))
    assert figure.image.shape == (14 + 56, 3 * 84 + 2 * 8, 3)  # image | normals truth | normals probe
    assert figure.info["summary"] == "1 image(s), normals"
    both = show_prediction([seg_probe, normals_probe], Source(features=tiny_store, indices=(1,)), gap=2)
    assert both.image.shape == (14 + 56, 5 * 84 + 4 * 2, 3)
    normals = predict_store(load_head(normals_probe), FeatureStore(tiny_store), 1)  # (H, W, 3) unit vectors
    assert normals.shape == (56, 84, 3)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=-1), 1.0, atol=1e-5)


def test_normal_colours_are_half_the_unit_vector_plus_a_half_and_black_where_invalid():
    from probekit.report.viz import normal_colours

    normals = np.array([[[0.0, 0.0, -2.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [np.nan, 0.0, 0.0]]])  # (1, 4, 3)
    rgb, valid = normal_colours(normals)
    assert valid.tolist() == [[True, True, False, False]]
    assert rgb[0, 0].tolist() == [128, 128, 0] and rgb[0, 1].tolist() == [255, 128, 128]  # facing the camera; right
    assert rgb[0, 2].tolist() == [0, 0, 0] and rgb[0, 3].tolist() == [0, 0, 0]
