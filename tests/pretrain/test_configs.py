"""The shipped pretraining presets load, and the CPU preset builds exactly the probekit-tiny alias."""

from pathlib import Path

import pytest

from probekit.backbones.spec import resolve_spec
from probekit.pretrain.config import load_pretrain_config

PRESETS = sorted((Path(__file__).parents[2] / "configs" / "pretrain").glob("*.yaml"))


@pytest.mark.parametrize("path", PRESETS, ids=[p.stem for p in PRESETS])
def test_presets_load(path):
    config = load_pretrain_config(path)
    assert config.global_size % config.patch_size == 0 and config.local_size % config.patch_size == 0


def test_cpu_preset_is_the_shipped_alias():
    config = load_pretrain_config(Path(__file__).parents[2] / "configs" / "pretrain" / "probekit-tiny-cpu.yaml")
    spec = resolve_spec("probekit-tiny")
    kwargs = config.timm_kwargs()
    assert spec.model == config.model
    assert {k: kwargs[k] for k in spec.kwargs} == spec.kwargs
