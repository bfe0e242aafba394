"""`probekit datasets` through CliRunner: the listing, layout checks (exit 1 when incomplete), presets."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from probekit.cli import app
from probekit.data.registry import dataset_entry
from probekit.features.extract import ExtractConfig, load_config_file
from tests.data.test_ade20k import write_ade20k
from tests.data.test_voc import write_voc

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
OURS = ("ade20k", "voc", "cityscapes")


def test_lists_every_adapter_with_tasks_splits_root_and_readme():
    result = runner.invoke(app, ["datasets"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines() if line.strip()}
    assert rows["voc"][1:] == ["segmentation", "train,val,train_aug", "yes", "datasets/voc/README.md"]
    assert rows["synthetic"][3] == "no"
    for name in OURS:
        assert rows[name][-1] == f"datasets/{name}/README.md" and (REPO / rows[name][-1]).is_file()


def test_complete_tree_passes(tmp_path, monkeypatch):
    from probekit.data.completeness import OFFICIAL, Official

    write_voc(tmp_path, aug="mmseg")
    sizes = {"train": 2, "val": 1, "train_aug": 4}  # the tiny tree's sizes stand in for the official counts
    monkeypatch.setitem(OFFICIAL, "voc", {split: Official(size, "fixture") for split, size in sizes.items()})
    result = runner.invoke(app, ["datasets", "voc", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "is complete" in result.output and "train_aug: 4 of 4 images" in result.output


def test_incomplete_tree_lists_what_is_missing_and_exits_1(tmp_path):
    base, _ = write_ade20k(tmp_path, counts=(("training", 2),))
    (base / "annotations/training/ADE_train_00000002.png").unlink()
    result = runner.invoke(app, ["datasets", "--dataset", "ade20k", "--root", str(base)])
    assert result.exit_code == 1, result.output
    assert "incomplete" in result.output and "datasets/ade20k/README.md" in result.output
    listed = [line.strip() for line in result.output.splitlines() if line.startswith("  - ")]
    assert listed == [
        "- annotations/training/ADE_train_00000002.png",
        "- images/validation",
        "- annotations/validation",
    ]


def test_describe_one_dataset():
    result = runner.invoke(app, ["datasets", "cityscapes"])
    assert result.exit_code == 0, result.output
    assert "splits: train, val" in result.output and "datasets/cityscapes/README.md" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["datasets", "vocc"], "Did you mean voc"),
        (["datasets", "--root", "."], "--root needs a dataset"),
        (["datasets", "synthetic", "--root", "."], "drop --root"),
        (["datasets", "voc", "--root", "/no/such/dir"], "is not a directory"),
    ],
)
def test_bad_requests_are_one_line_errors(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("probekit: error:") and message in lines[0]


@pytest.mark.parametrize("preset", ["ade20k", "voc", "voc-aug", "cityscapes", "imagenet"])
def test_dataset_presets_are_extract_settings_of_a_registered_split(preset):
    settings = load_config_file(REPO / "configs" / "datasets" / f"{preset}.yaml")
    config = ExtractConfig(backbone="test-dinov2", **settings)
    assert config.split in dataset_entry(config.dataset).splits
    assert all(side % 14 == 0 and side % 16 == 0 for side in config.image_size)


def test_readme_extract_command_with_a_preset(tmp_path):
    base, _ = write_voc(tmp_path)
    out = tmp_path / "voc-val.h5"
    result = runner.invoke(
        app,
        [
            "extract",
            "--config",
            str(REPO / "configs/datasets/voc.yaml"),
            "--backbone",
            "test-dinov2",
            "--random-init",
            "--root",
            str(base),
            "--split",
            "val",
            "--image-size",
            "56",
            "--workers",
            "0",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    info = runner.invoke(app, ["info", str(out)])
    assert "[complete]" in info.output and "(1, 56, 56)" in info.output, info.output
