"""`probekit datasets NAME --root DIR`: samples per split against the official counts, and the first missing
file named, on the end-to-end fixtures (tests/data/fixtures.py) with files removed."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from probekit.cli import app
from probekit.data import completeness
from probekit.data.completeness import OFFICIAL, Official
from probekit.data.registry import dataset_entries
from tests.data import test_pfpascal
from tests.data.fixtures import FIXTURES

runner = CliRunner()

# dataset -> (fixture sizes per split, a file of the extracted split to remove, relative to the tree)
REMOVED = {
    "voc": ({"train": 2, "val": 1}, "VOCdevkit/VOC2012/SegmentationClass/2007_000039.png"),
    "ade20k": ({"train": 3, "val": 2}, "ADEChallengeData2016/annotations/validation/ADE_val_00000002.png"),
    "cityscapes": ({"train": 3, "val": 1}, "gtFine/train/aachen/aachen_000001_000019_gtFine_labelIds.png"),
    "nyuv2-sync": ({"train": 2, "test": 1}, "sync/bedroom_0060/sync_depth_00081.png"),
    "kitti": (
        {"train": 1, "test": 2},
        "data_depth_annotated/val/2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/0000000069.png",
    ),
    "spair": ({"trn": 1, "test": 3}, "JPEGImages/bicycle/2008_000725.jpg"),
    "pfpascal": ({"test": 3}, "PF-dataset-PASCAL/JPEGImages/2010_003379.jpg"),
}

# what the report names when it is not the removed file: Cityscapes asks for the preferred labelTrainIds
NAMED = {"cityscapes": "gtFine/train/aachen/aachen_000001_000019_gtFine_labelTrainIds.png is missing"}


def _check(name: str, root) -> tuple[int, str]:
    result = runner.invoke(app, ["datasets", name, "--root", str(root)])
    assert "Traceback" not in result.output and result.exit_code in (0, 1), result.output
    return result.exit_code, result.output


def _official_as_fixture(monkeypatch, name: str, sizes: dict[str, int]) -> None:
    """Pretend the official counts are the fixture's sizes, so a complete fixture is a complete tree."""
    monkeypatch.setitem(
        OFFICIAL, name, {split: Official(size, "fixture", OFFICIAL[name][split].unit) for split, size in sizes.items()}
    )


@pytest.mark.parametrize("name", sorted(REMOVED))
def test_complete_tree_passes_and_a_removed_file_is_named(name, tmp_path, monkeypatch):
    sizes, removed = REMOVED[name]
    FIXTURES[name].write(tmp_path)
    if name == "pfpascal":  # the layout check wants the training and validation lists too
        for split in ("trn", "val"):
            test_pfpascal.write_flip_csv(
                tmp_path / f"PF-dataset-PASCAL/{split}_pairs.csv", "PF-dataset-PASCAL/JPEGImages/"
            )
    root = tmp_path / FIXTURES[name].root
    _official_as_fixture(monkeypatch, name, sizes)
    code, output = _check(name, root)
    assert code == 0, output
    assert all(f"{split}: {size} of {size}" in output for split, size in sizes.items()), output
    (tmp_path / removed).unlink()
    code, output = _check(name, root)
    named = NAMED.get(name, removed.rsplit("/", 1)[-1])
    assert code == 1 and named in output, output
    assert "Traceback" not in output


def test_short_split_reports_found_of_official(tmp_path):
    FIXTURES["nyuv2-sync"].write(tmp_path)
    code, output = _check("nyuv2-sync", tmp_path)
    assert code == 1
    assert "train: 2 of 24231 images, 24229 missing (BTS nyudepthv2_train_files_with_gt.txt)" in output
    assert "test: 1 of 654 images, 653 missing" in output


def test_list_shortened_to_fewer_lines_is_caught(tmp_path, monkeypatch):
    """A half-copied list file (or a tree whose files match a shorter list) shows as missing samples."""
    FIXTURES["voc"].write(tmp_path)
    _official_as_fixture(monkeypatch, "voc", {"train": 2, "val": 1})
    (tmp_path / "VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt").write_text("2007_000032\n")
    code, output = _check("voc", tmp_path)
    assert code == 1 and "train: 1 of 2 images, 1 missing" in output


def test_optional_split_absent_is_not_incomplete(tmp_path, monkeypatch):
    FIXTURES["voc"].write(tmp_path)  # no SBD: train_aug cannot be opened
    _official_as_fixture(monkeypatch, "voc", {"train": 2, "val": 1})
    monkeypatch.setitem(OFFICIAL["voc"], "train_aug", Official(10582, "fixture", optional=True))
    code, output = _check("voc", tmp_path)
    assert code == 0 and "train_aug: not readable (optional)" in output, output


def test_every_official_count_names_a_registered_split():
    registered = dict(dataset_entries())
    for name, splits in completeness.OFFICIAL.items():
        assert name in registered, name
        assert set(splits) <= set(registered[name].splits), name
