"""The CLI through typer's CliRunner: extract -> info, backbones, one-line errors."""

from __future__ import annotations

from typer.testing import CliRunner

from probekit.cli import app

runner = CliRunner()


def test_extract_then_info(tmp_path):
    out = tmp_path / "s.h5"
    result = runner.invoke(app, ["extract", "--backbone", "test-vit", "--random-init", "--limit", "6",
                                 "--image-size", "32x48", "--layers", "last4", "--batch-size", "4",
                                 "--workers", "0", "--out", str(out), "--quiet"])
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
        (["extract", "--backbone", "test-vit", "--random-init", "--image-size", "30", "--out", str(tmp_path / "a.h5")],
         "multiple of the patch"),
        (["extract", "--backbone", "test-vit", "--random-init", "--image-size", "big", "--out", str(tmp_path / "a.h5")],
         "bad image size"),
        (["extract", "--backbone", "test-vit", "--random-init", "--dataset", "imagenot", "--out", str(tmp_path / "a.h5")],
         "unknown dataset"),
        (["extract", "--backbone", "test-vit", "--random-init", "--split", "dev", "--out", str(tmp_path / "a.h5")],
         "splits train, val, test"),
        (["info", str(tmp_path / "missing.h5")], "does not exist"),
    ]
    for args, expected in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output, (args, result.output)
        assert len([line for line in result.output.splitlines() if line.strip()]) == 1, result.output
