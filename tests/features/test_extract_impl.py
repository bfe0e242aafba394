"""Three implementations of one ViT give the same stores through probekit's own extraction.

A tiny random-init transformers model (the ground truth, nothing downloaded) is extracted three ways:
by transformers (`hf:<dir>`), by timm holding the converted weights, and by the reference ViT
(`--impl reference`, from the transformers model and from the timm model). CLS (or SigLIP's pooled
output), patch mean and patch grid must agree within 1e-4 in float32 stores.
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from probekit.backbones import build_backbone
from probekit.backbones.reference_backbone import to_reference
from probekit.backbones.timm_backbone import TimmBackbone
from probekit.cli import app
from probekit.data import open_dataset
from probekit.features import ExtractConfig, FeatureStore, extract
from probekit.models.convert import timm_from_hf

transformers = pytest.importorskip("transformers")
from tests.hf_factory import tiny_hf_model  # noqa: E402

TOL = 1e-4
runner = CliRunner()


def _save_noisy(kind: str, folder) -> None:
    """A tiny random transformers model with noise on every weight (LayerScale and positions included)."""
    tiny_hf_model(kind, seed=0, noise=0.05).save_pretrained(folder)


def _extract(backbone, out, size=(56, 56)) -> dict[str, np.ndarray]:
    config = ExtractConfig(
        backbone=backbone.name,
        image_size=size,
        layers="0,-1",
        dtype="float32",
        batch_size=3,
        workers=0,
        limit=5,
        device="cpu",
    )
    dataset = open_dataset("synthetic", "train", image_size=size, limit=5)
    path = extract(config, out, progress=False, backbone=backbone, dataset=dataset)
    with FeatureStore(path) as store:
        return {
            f"{field}/{layer}": store.read(field, layer=layer) for field in ("cls", "mean", "patch") for layer in (0, 2)
        }


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


@pytest.mark.parametrize("kind", ["dinov2", "dinov2-reg", "siglip"])
def test_transformers_timm_and_reference_stores_agree_at_the_native_size(tmp_path, kind):
    folder = tmp_path / "model"
    _save_noisy(kind, folder)
    hf = build_backbone(f"hf:{folder}")
    timm_backbone = TimmBackbone(hf.name, "converted", timm_from_hf(hf.model), hf.weights_id, hf.weights_source)
    stores = {
        "transformers": _extract(hf, tmp_path / "hf.h5"),
        "timm": _extract(timm_backbone, tmp_path / "timm.h5"),
        "reference(hf)": _extract(build_backbone(f"hf:{folder}", impl="reference"), tmp_path / "ref_hf.h5"),
        "reference(timm)": _extract(to_reference(timm_backbone), tmp_path / "ref_timm.h5"),
    }
    base = stores.pop("transformers")
    assert float(np.abs(base["patch/2"]).max()) > 0.1  # real features, not near-zero noise
    for name, store in stores.items():
        assert _max_diff(base, store) <= TOL, name


@pytest.mark.parametrize("kind", ["dinov2", "siglip"])
def test_reference_resamples_as_transformers_at_a_non_native_size(tmp_path, kind):
    """HF DINOv2 / SigLIP resample positions without antialias, unlike timm: the reference follows HF."""
    folder = tmp_path / "model"
    _save_noisy(kind, folder)
    hf = build_backbone(f"hf:{folder}")
    reference = build_backbone(f"hf:{folder}", impl="reference")
    expected = _extract(hf, tmp_path / "hf.h5", size=(42, 70))
    assert _max_diff(expected, _extract(reference, tmp_path / "ref.h5", size=(42, 70))) <= TOL
    timm_backbone = TimmBackbone(hf.name, "converted", timm_from_hf(hf.model), hf.weights_id, hf.weights_source)
    assert _max_diff(expected, _extract(timm_backbone, tmp_path / "timm.h5", size=(42, 70))) > 1e-3


def _cli_extract(out, impl: str, name: str = "test-dinov2-reg") -> object:
    return runner.invoke(
        app,
        [
            "extract",
            "--backbone",
            name,
            "--random-init",
            "--seed",
            "4",
            "--limit",
            "4",
            "--image-size",
            "42x70",
            "--layers",
            "1,-1",
            "--dtype",
            "float32",
            "--batch-size",
            "2",
            "--workers",
            "0",
            "--device",
            "cpu",
            "--impl",
            impl,
            "--out",
            str(out),
            "--quiet",
        ],
    )


def test_cli_impl_reference_equals_timm_and_is_recorded(tmp_path):
    results = {impl: _cli_extract(tmp_path / f"{impl}.h5", impl) for impl in ("timm", "reference")}
    for result in results.values():
        assert result.exit_code == 0, result.output
    with FeatureStore(tmp_path / "timm.h5") as a, FeatureStore(tmp_path / "reference.h5") as b:
        for layer in (1, 3):
            for field in ("cls", "mean", "patch"):
                np.testing.assert_allclose(b.read(field, layer=layer), a.read(field, layer=layer), atol=1e-5, rtol=0)
        assert b.attrs["extract_config"]["impl"] == "reference" and b.attrs["impl"] == "reference"
        assert a.attrs["extract_config"]["impl"] == "timm"
        # same weights, same maths: one features fingerprint, so train/val stores of either impl combine
        assert a.attrs["features_fingerprint"] == b.attrs["features_fingerprint"]
        assert a.attrs["resume_key"] != b.attrs["resume_key"]
    rerun = _cli_extract(tmp_path / "timm.h5", "reference")  # would mix impls in one store
    assert rerun.exit_code == 2 and "--overwrite" in rerun.output


def test_cli_impl_reference_refuses_rope_models_in_one_line(tmp_path):
    result = _cli_extract(tmp_path / "x.h5", "reference", name="test-dinov3")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "--impl timm" in lines[0]
    assert not (tmp_path / "x.h5").exists()


def test_cli_hf_local_directory_extracts_offline(tmp_path):
    _save_noisy("dinov2-reg", tmp_path / "model")
    out = tmp_path / "s.h5"
    result = runner.invoke(
        app,
        [
            "extract",
            "--backbone",
            f"hf:{tmp_path / 'model'}",
            "--limit",
            "3",
            "--image-size",
            "56",
            "--workers",
            "0",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    with FeatureStore(out) as store:
        assert store.attrs["impl"] == "transformers" and store.attrs["num_registers"] == 4
        assert store.read("patch", layer=2).shape == (3, 4, 4, 64)


def test_cli_hf_hub_id_offline_is_one_line(tmp_path):
    result = runner.invoke(app, ["extract", "--backbone", "hf:facebook/dinov2-small", "--out", str(tmp_path / "x.h5")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "hf:/path/to/dir" in lines[0]
