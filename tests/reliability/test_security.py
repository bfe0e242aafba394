"""No code runs from files, and no file-supplied name reaches outside its folder.

A crafted pickle checkpoint is refused before anything in it runs; paths from CSV rows, list files,
JSON annotations and results JSONs must stay under their root (one line naming file:line and the
path); output names built from user strings make no folders.
"""

from __future__ import annotations

import json
import os
import random

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from probekit.cli import app
from probekit.data import open_dataset
from probekit.data.layout import resolve_under
from probekit.errors import DatasetError
from probekit.pretrain.checkpoint import load_checkpoint, python_rng_state, set_python_rng_state
from probekit.pretrain.config import PretrainError, load_pretrain_config
from probekit.pretrain.pool import load_or_render_pool
from probekit.report.results import file_safe
from tests.pretrain.conftest import TINY_YAML

runner = CliRunner()


class _Payload:
    """Unpickling this creates `marker`: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mknod, (self.marker,)


def _image(path, shape=(8, 12)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((*shape, 3), 90, np.uint8))


def _one_line_error(result, *parts: str) -> str:
    """The CLI's failure output: exit 2, one `probekit: error:` line naming every part, no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("probekit: error:")]
    assert len(lines) == 1, result.output
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


# --- checkpoints: read with weights_only=True -----------------------------------------------------


def test_pickle_payload_checkpoint_is_refused_and_never_runs(tmp_path):
    config, out, marker = tmp_path / "tiny.yaml", tmp_path / "run", tmp_path / "PWNED"
    config.write_text(TINY_YAML)
    out.mkdir()
    torch.save({"format": 2, "config": {}, "step": _Payload(marker)}, out / "checkpoint.pt")
    result = runner.invoke(app, ["pretrain", "--config", str(config), "--out", str(out), "--steps", "1", "--quiet"])
    _one_line_error(result, str(out / "checkpoint.pt"), "--no-resume")
    assert not marker.exists()


@pytest.mark.parametrize("content", [torch.zeros(3), {"step": 1, "config": {}}, {"format": 2, "config": [1]}])
def test_foreign_or_old_checkpoint_contents_are_one_line_errors(tmp_path, content):
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    torch.save(content, tmp_path / "checkpoint.pt")
    with pytest.raises(
        PretrainError, match=r"checkpoint.pt is not a checkpoint of this probekit version .*--no-resume"
    ):
        load_checkpoint(tmp_path / "checkpoint.pt", load_pretrain_config(tmp_path / "tiny.yaml"))


def test_python_rng_state_survives_a_weights_only_round_trip(tmp_path):
    rng = random.Random(7)
    rng.gauss(0, 1)  # leaves gauss_next set: it must come back too
    torch.save(python_rng_state(rng), tmp_path / "rng.pt")
    expected = [rng.random() for _ in range(5)] + [rng.gauss(0, 1)]
    restored = random.Random(0)
    set_python_rng_state(restored, torch.load(tmp_path / "rng.pt", weights_only=True))
    assert [restored.random() for _ in range(5)] + [restored.gauss(0, 1)] == expected


def test_pool_cache_with_pickled_objects_is_refused(tmp_path):
    cache = tmp_path / "pool.npy"
    np.save(cache, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match=r"pool cache .*pool.npy is not a plain .npy array"):
        load_or_render_pool(2, 8, 0, cache=cache)


# --- file-supplied paths stay under root ----------------------------------------------------------


@pytest.mark.parametrize("name, expected", [("a/b.png", "a/b.png"), ("a/../b.png", "b.png"), ("./x", "x")])
def test_names_inside_root_are_kept(tmp_path, name, expected):
    assert resolve_under(tmp_path, name, "list:1") == tmp_path / expected


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd", "..", "a/b/../../../x"])
def test_names_leaving_root_are_refused(tmp_path, name):
    with pytest.raises(DatasetError, match=rf"^list:3: path {name!r} is outside {tmp_path}"):
        resolve_under(tmp_path, name, "list:3")


def _csv_root(tmp_path, rows: str):
    root = tmp_path / "root"
    _image(root / "train/cat/a.png")
    _image(tmp_path / "secret.png")
    (root / "train.csv").write_text(rows)
    return root


@pytest.mark.parametrize("row", ["../secret.png,0", "train/../../secret.png,0", "{tmp}/secret.png,0"])
def test_csv_paths_out_of_root_are_refused_through_the_cli(tmp_path, row):
    root = _csv_root(tmp_path, f"train/cat/a.png,0\n{row.format(tmp=tmp_path)}\n")
    result = runner.invoke(
        app,
        [
            "extract",
            "--backbone",
            "test-dinov2",
            "--random-init",
            "--dataset",
            "csv",
            "--root",
            str(root),
            "--split",
            "train",
            "--image-size",
            "28",
            "--out",
            str(tmp_path / "s.h5"),
        ],
    )
    _one_line_error(result, f"{root / 'train.csv'}:2", row.format(tmp=tmp_path).split(",")[0], "outside")
    assert not (tmp_path / "s.h5").exists()


def test_csv_relative_path_and_symlinked_root_still_work(tmp_path):
    root = _csv_root(tmp_path, "path,label\ntrain/cat/a.png,cat\n./train/cat/a.png,dog\n")
    (tmp_path / "link").symlink_to(root, target_is_directory=True)
    for base in (root, tmp_path / "link"):
        dataset = open_dataset("csv", "train", str(base), image_size=(8, 8))
        assert dataset.files == [base / "train/cat/a.png"] * 2 and dataset.labels == [0, 1]


def _kitti_root(tmp_path, line: str):
    from tests.data.test_kitti import write_kitti

    root = tmp_path / "kitti"
    write_kitti(root)
    (root / "eigen_test_files_with_gt.txt").write_text(line)
    return root


GOOD_DEPTH = "2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/0000000069.png"


@pytest.mark.parametrize(
    "line, bad",
    [
        (f"../secret.png {GOOD_DEPTH} 721.5", "../secret.png"),
        (f"/etc/passwd {GOOD_DEPTH} 721.5", "/etc/passwd"),
        (
            "2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png x/../../../secret.png 721.5",
            "x/../../../secret.png",
        ),
    ],
)
def test_kitti_list_paths_out_of_root_are_refused(tmp_path, line, bad):
    root = _kitti_root(tmp_path, f"{line}\n")
    with pytest.raises(DatasetError, match=rf"eigen_test_files_with_gt.txt:1: path '{bad}' is outside"):
        open_dataset("kitti", "test", str(root), image_size=(32, 32))


@pytest.mark.parametrize(
    "line", ["/../../secret.jpg bathroom/sync_depth_00045.png", "bathroom/rgb_00045.jpg ../../../x.png"]
)
def test_nyuv2_sync_list_paths_out_of_root_are_refused(tmp_path, line):
    from tests.data.test_nyuv2 import write_sync

    write_sync(tmp_path)
    (tmp_path / "nyudepthv2_test_files_with_gt.txt").write_text(
        f"bathroom/rgb_00045.jpg bathroom/sync_depth_00045.png\n{line}\n"
    )
    with pytest.raises(
        DatasetError, match=r"nyudepthv2_test_files_with_gt.txt:2: path '\.\./.*' is outside .*official_splits/test"
    ):
        open_dataset("nyuv2-sync", "test", str(tmp_path), image_size=(32, 32))


@pytest.mark.parametrize("line", ["../elsewhere 0 1", "scene0000_00 ../../../etc/passwd 1", "/abs 0 1", ".. 0 1"])
def test_posed_scenes_pair_names_cannot_leave_root_through_the_cli(tmp_path, line):
    from tests.data.test_posed_scenes import write_posed_scenes

    write_posed_scenes(tmp_path / "tree", scenes=1)
    (tmp_path / "tree" / "pairs.txt").write_text(f"scene0000_00 0 1\n{line}\n")
    args = ["extract", "--dataset", "posed-scenes", "--split", "test", "--root", str(tmp_path / "tree")]
    result = runner.invoke(
        app, [*args, "--backbone", "pixels-p8", "--image-size", "48x64", "--out", str(tmp_path / "s.h5")]
    )
    _one_line_error(result, "pairs.txt:2", "is a path, not a scene or frame name")


def test_voc_list_ids_out_of_root_are_refused(tmp_path):
    from tests.data.test_voc import write_voc

    base, _ = write_voc(tmp_path)
    (base / "ImageSets/Segmentation/val.txt").write_text("2007_000033\n../../../../secret\n")
    with pytest.raises(DatasetError, match=r"val.txt:2: path '\.\./\.\./\.\./\.\./secret.jpg' is outside .*JPEGImages"):
        open_dataset("voc", "val", str(tmp_path), image_size=(32, 32))


def test_spair_layout_names_and_json_image_names_out_of_root_are_refused(tmp_path):
    from tests.data.test_spair import make_spair

    root = make_spair(tmp_path / "spair")
    layout = root / "Layout/large/test.txt"
    good = layout.read_text()
    layout.write_text(good + "../../../evil\n")
    with pytest.raises(
        DatasetError, match=r"test.txt:4: path '\.\./\.\./\.\./evil.json' is outside .*PairAnnotation/test"
    ):
        open_dataset("spair", "test", str(root), image_size=(32, 32))
    layout.write_text(good)
    annotation = sorted((root / "PairAnnotation/test").glob("*.json"))[0]
    fields = json.loads(annotation.read_text())
    fields["src_imname"] = "../../../secret.jpg"
    annotation.write_text(json.dumps(fields))
    with pytest.raises(
        DatasetError, match=rf"{annotation.name}: path '{fields['category']}/\.\./\.\./\.\./secret.jpg' is outside"
    ):
        open_dataset("spair", "test", str(root), image_size=(32, 32))


def test_results_head_weights_cannot_name_a_file_outside_the_results_folder(tmp_path):
    from probekit.report.predict import load_head
    from probekit.report.results import RESULTS_FORMAT

    folder = tmp_path / "results"
    folder.mkdir()
    path = folder / "run.json"
    path.write_text(
        json.dumps(
            {
                "format": RESULTS_FORMAT,
                "task": "depth",
                "probe": {"settings": {}},
                "backbone": {"embed_dim": 4},
                "head_weights": "../outside.safetensors",
            }
        )
    )
    with pytest.raises(DatasetError, match=r"run.json head_weights: path '\.\./outside.safetensors' is outside"):
        load_head(path)


@pytest.mark.parametrize("name", ["hf:../../../m-random-synthetic-train", "hf:/abs/model-x", "a/b\\c"])
def test_output_names_from_user_strings_make_no_folders(name):
    safe = file_safe(name)
    assert "/" not in safe and "\\" not in safe and ":" not in safe and len(safe) == len(name)
