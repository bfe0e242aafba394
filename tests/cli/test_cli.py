"""The CLI through typer's CliRunner: extract -> info, backbones, one-line errors."""

from __future__ import annotations

from typer.testing import CliRunner

from probekit.cli import app

runner = CliRunner()


def test_extract_then_info(tmp_path):
    out = tmp_path / "s.h5"
    result = runner.invoke(
        app,
        [
            "extract",
            "--backbone",
            "test-vit",
            "--random-init",
            "--limit",
            "6",
            "--image-size",
            "32x48",
            "--layers",
            "last4",
            "--batch-size",
            "4",
            "--workers",
            "0",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.exists()
    info = runner.invoke(app, ["info", str(out)])
    assert info.exit_code == 0, info.output
    assert "[complete]" in info.output
    assert "test-vit" in info.output and "/layers/3/patch" in info.output and "(6, 2, 3, 64)" in info.output


def test_backbones_lists_aliases_with_their_facts():
    result = runner.invoke(app, ["backbones", "--test"])
    assert result.exit_code == 0, result.output
    line = next(row for row in result.output.splitlines() if row.startswith("dinov2-s14 "))
    assert line.split()[2:6] == ["14", "384", "12", "22.1"]
    assert any(row.startswith("siglip-b16") for row in result.output.splitlines())
    assert any(row.startswith("test-dinov2-reg") for row in result.output.splitlines())


def test_offline_without_weights_is_one_line_naming_the_fix(tmp_path):
    result = runner.invoke(app, ["extract", "--backbone", "dinov2-s14", "--out", str(tmp_path / "x.h5")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("probekit: error:") and "--weights" in lines[0]
    assert not (tmp_path / "x.h5").exists()


def test_bad_inputs_are_one_line_errors(tmp_path):
    cases = [
        (["extract", "--backbone", "nope", "--out", str(tmp_path / "a.h5")], "unknown backbone"),
        (
            [
                "extract",
                "--backbone",
                "test-vit",
                "--random-init",
                "--image-size",
                "30",
                "--out",
                str(tmp_path / "a.h5"),
            ],
            "multiple of the patch",
        ),
        (
            [
                "extract",
                "--backbone",
                "test-vit",
                "--random-init",
                "--image-size",
                "big",
                "--out",
                str(tmp_path / "a.h5"),
            ],
            "bad image size",
        ),
        (
            [
                "extract",
                "--backbone",
                "test-vit",
                "--random-init",
                "--dataset",
                "imagenot",
                "--out",
                str(tmp_path / "a.h5"),
            ],
            "unknown dataset",
        ),
        (
            ["extract", "--backbone", "test-vit", "--random-init", "--split", "dev", "--out", str(tmp_path / "a.h5")],
            "splits train, val, test",
        ),
        (["info", str(tmp_path / "missing.h5")], "does not exist"),
    ]
    for args, expected in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output, (args, result.output)
        assert len([line for line in result.output.splitlines() if line.strip()]) == 1, result.output


def test_config_preset_with_command_line_overrides(tmp_path):
    preset = tmp_path / "preset.yaml"
    preset.write_text("backbone: test-dinov2\nrandom_init: true\nlayers: last4\nlimit: 3\nimage_size: 28\n")
    out = tmp_path / "p.h5"
    result = runner.invoke(
        app, ["extract", "--config", str(preset), "--layers", "-1", "--workers", "0", "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    from probekit.features import FeatureStore

    attrs = FeatureStore(out).attrs
    assert attrs["layers"] == [3]  # the flag wins over the preset
    assert attrs["num_samples"] == 3 and attrs["image_size"] == [28, 28] and attrs["backbone"] == "test-dinov2"


def test_shipped_presets_are_valid():
    from pathlib import Path

    from probekit.features.extract import ExtractConfig, load_config_file

    presets = sorted((Path(__file__).parents[2] / "configs" / "extract").glob("*.yaml"))
    assert presets
    for preset in presets:
        ExtractConfig(**load_config_file(preset))


def test_bad_preset_is_a_one_line_error(tmp_path):
    preset = tmp_path / "bad.yaml"
    preset.write_text("backbone: test-vit\nlayer: -1\n")
    result = runner.invoke(app, ["extract", "--config", str(preset), "--out", str(tmp_path / "x.h5")])
    assert result.exit_code == 2 and "unknown extract settings ['layer']" in result.output
