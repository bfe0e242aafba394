"""The posed-scenes adapter on synthetic views written in the ScanNet export layout: its reprojected matches
agree with the renderer's cameras, rotations are recorded, the multiview probe runs on it, and bad trees are
one-line errors (or a `datasets` report naming the missing file)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from probekit.cli import app
from probekit.data import open_dataset
from probekit.data import posed_scenes as posed
from probekit.data.poses import relative_rotation_deg
from probekit.data.scenes.pairs import ScenePair
from probekit.data.synthetic import SceneConfig, render_pair
from probekit.errors import DatasetError
from probekit.features.extract import ExtractConfig, extract
from probekit.tasks import run_probe

SIZE = (48, 64)  # (H, W) of the rendered frames


def write_posed_scenes(root: Path, scenes: int = 2, pairs_file: bool = True) -> list[ScenePair]:
    """One scene per rendered pair, frames 0 and 1, colour JPEG, depth PNG in mm, intrinsics and poses."""
    config = SceneConfig(image_size=SIZE, fov_deg=(60.0, 60.0))  # one K per scene, as ScanNet's
    rendered = []
    for s in range(scenes):
        pair = render_pair(100 + s, config, num_points=8, baseline_deg=(20.0, 40.0))
        scene = root / f"scene{s:04d}_00"
        for part in ("color", "depth", "pose", "intrinsic"):
            (scene / part).mkdir(parents=True, exist_ok=True)
        for frame, view in enumerate((pair.view_a, pair.view_b)):
            assert cv2.imwrite(str(scene / "color" / f"{frame}.jpg"), view.image[..., ::-1])
            assert cv2.imwrite(str(scene / "depth" / f"{frame}.png"), np.round(view.depth * 1000).astype(np.uint16))
            np.savetxt(scene / "pose" / f"{frame}.txt", view.camera.cam_to_world)
        K = np.eye(4)
        K[:3, :3] = pair.view_a.camera.K
        np.savetxt(scene / "intrinsic" / "intrinsic_color.txt", K)
        rendered.append(pair)
    if pairs_file:
        (root / "pairs.txt").write_text(
            "# scene frame_a frame_b\n" + "".join(f"scene{s:04d}_00 0 1\n" for s in range(scenes))
        )
    return rendered


def extract_pixels(tree: Path, out: Path) -> Path:
    """The test split of a posed-scenes tree as a pixels-p8 store (no network, no model)."""
    config = ExtractConfig(
        backbone="pixels-p8", dataset="posed-scenes", split="test", root=str(tree), image_size=SIZE, workers=0
    )
    return extract(config, out, progress=False)


def test_matches_reproject_through_the_renderers_cameras_and_rotations_are_recorded(tmp_path):
    rendered = write_posed_scenes(tmp_path)
    dataset = open_dataset("posed-scenes", "test", str(tmp_path), image_size=SIZE)
    table = dataset.pair_table
    assert len(dataset) == 4 and len(table) == 2 and table.attrs["pair_list"] == "pairs.txt"
    for p, pair in enumerate(rendered):
        a, b = pair.view_a, pair.view_b
        valid = table.valid[p]
        assert valid.sum() > 20
        src, trg = table.src_kps[p][valid], table.trg_kps[p][valid]
        cols, rows = np.floor(src).astype(int).T
        expected, z = b.camera.project(a.camera.unproject(src, a.depth[rows, cols]))  # exact depth and cameras
        assert (z > 0).all() and np.abs(expected - trg).max() < 0.05  # only the mm rounding of depth differs
        cameras = a.camera.cam_to_world, b.camera.cam_to_world
        assert table.rotation_deg[p] == pytest.approx(relative_rotation_deg(*cameras), abs=1e-4)
        assert 20 <= table.rotation_deg[p] <= 60


def test_multiview_probe_on_a_posed_scene_store(tmp_path):
    write_posed_scenes(tmp_path / "tree")
    store = extract_pixels(tmp_path / "tree", tmp_path / "posed.h5")
    path = run_probe("multiview", store, tmp_path / "out", val=store, test=store, progress=False)
    m = json.loads(path.read_text())["metrics"]
    assert m["pairs"] == 2 and m["bins"]["0-30"]["pairs"] + m["bins"]["30-60"]["pairs"] == 2


def test_pairs_are_sampled_by_frame_gap_without_a_list_and_unposed_frames_are_named(tmp_path, monkeypatch):
    write_posed_scenes(tmp_path, scenes=2, pairs_file=False)
    scene = tmp_path / "scene0001_00"
    np.savetxt(scene / "pose" / "1.txt", np.full((4, 4), -np.inf))  # ScanNet's lost tracking
    monkeypatch.setattr(posed, "GAP", 1)
    table = open_dataset("posed-scenes", "test", str(tmp_path), image_size=SIZE).pair_table
    assert list(table.ids) == ["scene0000_00/0-1"] and table.attrs["unposed_frames"] == ["scene0001_00/1"]
    (tmp_path / "pairs.txt").write_text("scene0001_00 0 1\n")
    with pytest.raises(DatasetError, match=r"pose/1\.txt is not finite"):
        open_dataset("posed-scenes", "test", str(tmp_path), image_size=SIZE)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda root: (root / "scene0000_00/depth/1.png").unlink(), r"depth/1\.png is missing"),
        (lambda root: (root / "scene0000_00/pose/0.txt").write_text("1 2 x"), r"pose/0\.txt is not a 4x4 matrix"),
        (lambda root: (root / "scene0000_00/pose/0.txt").write_text("1 2 3"), r"holds 3 numbers"),
        (lambda root: (root / "scene0000_00/intrinsic/intrinsic_color.txt").unlink(), "intrinsic_color.txt is missing"),
        (lambda root: (root / "pairs.txt").write_text("../outside 0 1\n"), r"pairs\.txt:1: '\.\./outside' is a path"),
        (lambda root: (root / "pairs.txt").write_text("scene0000_00 .. 1\n"), r"pairs\.txt:1: '\.\.' is a path"),
        (lambda root: (root / "pairs.txt").write_text("scene0000_00 0\n"), r"pairs\.txt:1: want"),
        (lambda root: (root / "pairs.txt").write_text("scene0000_00 0 7\n"), r"color/7\.jpg is missing"),
    ],
)
def test_bad_trees_are_one_line_errors(tmp_path, damage, message):
    write_posed_scenes(tmp_path, scenes=1)
    damage(tmp_path)
    with pytest.raises(DatasetError, match=message) as error:
        open_dataset("posed-scenes", "test", str(tmp_path), image_size=SIZE)
    assert "\n" not in str(error.value)


def test_datasets_check_names_what_is_missing(tmp_path):
    write_posed_scenes(tmp_path, scenes=1)
    runner = CliRunner()
    result = runner.invoke(app, ["datasets", "posed-scenes", "--root", str(tmp_path)])
    assert result.exit_code == 0 and "complete" in result.output, result.output
    (tmp_path / "scene0000_00/pose/1.txt").unlink()
    result = runner.invoke(app, ["datasets", "posed-scenes", "--root", str(tmp_path)])
    assert result.exit_code == 1 and "scene0000_00/pose/1.txt" in result.output, result.output


@pytest.mark.parametrize("depth_intrinsics", ["scaled from intrinsic_color", "intrinsic_depth.txt"])
def test_depth_at_another_resolution_than_colour(tmp_path, depth_intrinsics):
    rendered = write_posed_scenes(tmp_path, scenes=1)
    scene = tmp_path / "scene0000_00"
    for frame, view in enumerate((rendered[0].view_a, rendered[0].view_b)):  # half-size depth: every other pixel
        half = np.round(view.depth[1::2, 1::2] * 1000).astype(np.uint16)  # its centres are full-res corners 2j+1
        assert cv2.imwrite(str(scene / "depth" / f"{frame}.png"), half)
    if depth_intrinsics == "intrinsic_depth.txt":
        K = np.diag([0.5, 0.5, 1.0, 1.0]) @ np.loadtxt(scene / "intrinsic" / "intrinsic_color.txt")
        np.savetxt(scene / "intrinsic" / "intrinsic_depth.txt", K)
    table = open_dataset("posed-scenes", "test", str(tmp_path), image_size=SIZE).pair_table
    a, b = rendered[0].view_a, rendered[0].view_b
    valid = table.valid[0]
    src, trg = table.src_kps[0][valid], table.trg_kps[0][valid]  # colour pixels
    assert valid.sum() > 10 and np.allclose(src % 2, 1.0)  # half-res pixel centres land on full-res odd corners
    cols, rows = src.astype(int).T  # the full-res pixel whose depth the half-res one holds
    expected, _ = b.camera.project(a.camera.unproject(src, a.depth[rows, cols]))
    assert np.abs(expected - trg).max() < 0.05


def test_identical_views_are_recalled_within_a_cell_at_zero_rotation(tmp_path):
    write_posed_scenes(tmp_path / "tree", scenes=1)
    scene = tmp_path / "tree" / "scene0000_00"
    for part, suffix in (("color", "jpg"), ("depth", "png"), ("pose", "txt")):  # frame 1 := frame 0
        (scene / part / f"1.{suffix}").write_bytes((scene / part / f"0.{suffix}").read_bytes())
    store = extract_pixels(tmp_path / "tree", tmp_path / "same.h5")
    result = json.loads(
        run_probe("multiview", store, tmp_path / "out", val=store, test=store, progress=False).read_text()
    )
    m, identity = result["metrics"], result["trivial_baseline"]
    assert m["bins"]["0-30"]["pairs"] == 1 and m["matches"] == posed.NUM_POINTS
    assert identity["recall@5px"] == 1.0  # every match maps to itself
    assert m["recall@10px_rot0-30"] == 1.0  # each point's own cell, scored at its centre: < 8 / sqrt(2) px away
