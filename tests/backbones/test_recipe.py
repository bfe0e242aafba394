"""BackboneRecipe: a store's backbone rebuilt from the settings recorded at extraction, not from display strings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from probekit.backbones import BackboneRecipe
from probekit.backbones.spec import random_init_id, random_init_seed
from probekit.cli import app
from probekit.errors import StoreError
from probekit.features.store import FeatureStore
from probekit.report.sources import encode, stored_images
from tests.store_factory import write_store


@pytest.fixture(scope="module")
def seed3_store(tmp_path_factory):
    """A store extracted through the CLI with --random-init --seed 3, float32 so features compare tightly."""
    out = tmp_path_factory.mktemp("recipe") / "seed3.h5"
    result = CliRunner().invoke(
        app,
        [
            "extract",
            "--backbone",
            "test-dinov2",
            "--random-init",
            "--seed",
            "3",
            "--image-size",
            "56",
            "--layers",
            "-1",
            "--limit",
            "3",
            "--workers",
            "0",
            "--dtype",
            "float32",
            "--quiet",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_rebuilt_backbone_reproduces_the_stored_features(seed3_store):
    with FeatureStore(seed3_store) as store:
        recipe = BackboneRecipe.from_store_attrs(store.attrs)
        assert recipe == BackboneRecipe("test-dinov2", None, True, 3, "timm")
        layer = store.resolve_layer(None)
        stored = torch.from_numpy(store.read("patch", 0, 3, layer))  # (3, h, w, D)
        images = stored_images(store, [0, 1, 2])
        attrs = store.attrs
    backbone = recipe.build()
    assert backbone.weights_id == attrs["weights_sha256"] == random_init_id(3)
    rebuilt = torch.stack(encode(backbone, images, layer, bool(attrs["norm"])))  # (3, h, w, D)
    torch.testing.assert_close(rebuilt, stored, rtol=1e-4, atol=1e-4)
    # the seed matters: another seed's backbone does not reproduce them (so the check above can fail)
    other = BackboneRecipe("test-dinov2", random_init=True, seed=0).build()
    assert not torch.allclose(torch.stack(encode(other, images, layer, True)), stored, atol=1e-2)


def test_store_without_extract_config_is_one_line_naming_the_fix(tmp_path):
    path = write_store(tmp_path / "old.h5", np.zeros((2, 3, 3, 4), np.float32), {})
    with (
        FeatureStore(path) as store,
        pytest.raises(
            StoreError,
            match=r"^old\.h5 does not record how its backbone "
            r"was built .*re-extract it",
        ),
    ):
        BackboneRecipe.from_store_attrs(store.attrs, path.name)


@pytest.mark.parametrize("seed", [0, 3, 12345])
def test_random_init_id_round_trips(seed):
    assert random_init_seed(random_init_id(seed)) == seed


@pytest.mark.parametrize("weights_id", ["random-init", "random-init(seed=x)", "abc123", "random-init(seed=-1)"])
def test_unreadable_random_init_id_is_a_store_error(weights_id):
    with pytest.raises(StoreError, match="--random-init --seed N"):
        random_init_seed(weights_id, "r.json")


@pytest.mark.parametrize(
    ("provenance", "expected"),
    [
        (
            {"backbone": "test-dinov2", "weights_source": "random-init", "weights_sha256": "random-init(seed=7)"},
            BackboneRecipe("test-dinov2", random_init=True, seed=7),
        ),
        (
            {"backbone": "vits", "weights_source": "file:/w/ckpt.pth", "weights_sha256": "ab" * 32},
            BackboneRecipe("vits", weights="/w/ckpt.pth"),
        ),
        (
            {"backbone": "dinov2-s", "weights_source": "hub:timm/x", "weights_sha256": "cd" * 32},
            BackboneRecipe("dinov2-s"),
        ),
    ],
)
def test_recipe_from_a_results_backbone_section(provenance, expected):
    assert BackboneRecipe.from_provenance(provenance) == expected
