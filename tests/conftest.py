"""Shared fixtures: no network, tiny random-init models, tiny synthetic stores."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_hub(monkeypatch, tmp_path_factory):
    """Tests never touch the network: the hub is offline and its cache is an empty folder."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf_home")))


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory):
    """A complete store of 12 synthetic scenes from the tiny DINOv2 config, two layers."""
    from probekit.features import ExtractConfig, extract

    path = tmp_path_factory.mktemp("stores") / "tiny.h5"
    config = ExtractConfig(
        backbone="test-dinov2", random_init=True, image_size=(56, 84), layers="1,-1", batch_size=5, workers=0, limit=12
    )
    return extract(config, path, progress=False)
