"""Without network and without a file: a one-line error naming the fix, fast."""

from __future__ import annotations

import time

import pytest

from probekit.backbones import build_backbone
from probekit.backbones.hub import hub_unreachable_reason, preflight_backbone_weights
from probekit.errors import BackboneError, WeightsError


def test_offline_error_is_one_line_names_the_fixes_and_is_fast():
    started = time.perf_counter()
    with pytest.raises(WeightsError) as caught:
        preflight_backbone_weights("dinov2-s14", None, False)
    assert time.perf_counter() - started < 1.0
    message = str(caught.value)
    assert "\n" not in message
    assert "--weights" in message and "HF_HUB_OFFLINE" in message and "dinov2-s14" in message


def test_build_backbone_offline_raises_the_same_error_quickly():
    import timm  # noqa: F401 - import time (seconds on a loaded machine) is not what this measures

    started = time.perf_counter()
    with pytest.raises(WeightsError, match="--weights"):
        build_backbone("siglip-b16")
    assert time.perf_counter() - started < 2.0  # includes building the meta-device skeleton


def test_unreachable_hub_is_detected_without_waiting_for_retries(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")  # .invalid never resolves (RFC 2606)
    assert "unreachable" in hub_unreachable_reason(timeout_s=1.0)
    with pytest.raises(WeightsError, match=r"unreachable.*set HF_HUB_OFFLINE=1 to fail fast"):
        preflight_backbone_weights("dinov2-s14", None, False)


def test_random_init_leaves_the_global_rng_alone():
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_backbone("test-vit", random_init=True, seed=5)
    torch.testing.assert_close(torch.rand(3), expected)


def test_random_init_and_weights_exclude_each_other(tmp_path):
    with pytest.raises(BackboneError, match="exclude"):
        build_backbone("test-vit", weights=tmp_path / "x.pth", random_init=True)


def test_test_configs_need_random_init():
    with pytest.raises(BackboneError, match="--random-init"):
        build_backbone("test-vit")


def test_unknown_backbone_suggests_close_names():
    with pytest.raises(BackboneError, match="dinov2-s14"):
        build_backbone("dinov2-s41")
