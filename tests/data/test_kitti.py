"""KITTI Eigen-split adapter on a miniature raw + data_depth_annotated tree: KB crop, value/256 metres,
per-frame Garg box, skipped `None` lines, split-file formats and errors naming the missing file."""

from __future__ import annotations

import cv2
import h5py
import numpy as np
import pytest

from probekit.data import open_dataset
from probekit.data.depth_targets import GARG_FRACTIONS
from probekit.data.kitti import check_kitti, parse_line
from probekit.errors import DatasetError
from probekit.features import ExtractConfig, extract
from probekit.metrics.depth import GARG_CROP

DRIVES = {"2011_09_26_drive_0002_sync": ((375, 1242), "val"), "2011_09_30_drive_0016_sync": ((370, 1224), "train")}


def _frame(drive: str, frame: int, root) -> tuple[np.ndarray, np.ndarray]:
    """Write raw image_02 PNG and its annotated 16-bit depth PNG; return (rgb, depth value)."""
    (height, width), subset = DRIVES[drive]
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([y % 256, x % 256, (x // 256 + 40 * frame) % 256], axis=-1).astype(np.uint8)
    value = ((y * 31 + x * 7 + frame) % 20000).astype(np.uint16)
    value[y < 150] = 0  # the annotated maps are empty above the LiDAR's reach
    value[200, 600] = 256 * 25 + 128  # 25.5 m
    image = root / drive[:10] / drive / "image_02" / "data" / f"{frame:010d}.png"
    depth = (
        root / "data_depth_annotated" / subset / drive / "proj_depth" / "groundtruth" / "image_02" / f"{frame:010d}.png"
    )
    for path, array in ((image, rgb[..., ::-1]), (depth, value)):
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), array)
    return rgb, value


def write_kitti(root) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    frames = {
        "2011_09_26_drive_0002_sync/image_02/0000000069": _frame("2011_09_26_drive_0002_sync", 69, root),
        "2011_09_30_drive_0016_sync/image_02/0000000005": _frame("2011_09_30_drive_0016_sync", 5, root),
    }
    (root / "eigen_test_files_with_gt.txt").write_text(
        "2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png "
        "2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/0000000069.png 721.5377\n"
        "2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000070.png None 721.5377\n"
        "2011_09_30/2011_09_30_drive_0016_sync/image_02/data/0000000005.png "
        "2011_09_30_drive_0016_sync/proj_depth/groundtruth/image_02/0000000005.png 707.0493\n"
    )
    (root / "eigen_train_files_with_gt.txt").write_text(
        "2011_09_30/2011_09_30_drive_0016_sync 5 l\n"
    )  # Monodepth2 style
    return frames


def test_kb_crop_depth_in_metres_and_skipped_none_lines(tmp_path):
    frames = write_kitti(tmp_path)
    test = open_dataset("kitti", "test", str(tmp_path), image_size=(352, 1216))
    assert len(test) == 2 and test.describe()["skipped_without_gt"] == 1
    assert [test[i]["id"] for i in range(2)] == list(frames)
    for index, (rgb, value) in enumerate(frames.values()):
        sample = test[index]
        height, width = value.shape
        top, left = height - 352, (width - 1216) // 2
        np.testing.assert_array_equal(sample["image"], rgb[top:, left : left + 1216])  # KB crop, RGB order
        np.testing.assert_array_equal(sample["depth"], value[top:, left : left + 1216].astype(np.float32) / 256)
        assert sample["depth"].dtype == np.float32 and sample["depth"].shape == (352, 1216)
    assert test[0]["depth"][200 - 23, 600 - 13] == 25.5 and (test[0]["depth"][: 150 - 23] == 0).all()
    # Garg crop of the 375x1242 raw frame (rows 153:371, cols 44:1197) moved into the KB frame (23, 13)
    np.testing.assert_array_equal(test[0]["eval_crop"], [130, 348, 31, 1184])
    np.testing.assert_array_equal(test[1]["eval_crop"], [133, 348, 39, 1176])  # 370x1224: (151:366, 43:1180) - (18, 4)
    attrs = test.targets["depth"].attrs
    assert attrs["max_depth"] == 80.0 and attrs["crop"] == "garg" and attrs["depth_png_scale"] == 256.0


def test_monodepth2_lines_and_window_for_other_sizes(tmp_path):
    frames = write_kitti(tmp_path)
    train = open_dataset("kitti", "train", str(tmp_path), image_size=(56, 196))
    assert len(train) == 1 and train[0]["id"] == "2011_09_30_drive_0016_sync/image_02/0000000005"
    assert train.targets["depth"].shape == (347, 1216)  # 56:196 is wider than 352:1216: full width, 347 rows
    value = frames["2011_09_30_drive_0016_sync/image_02/0000000005"][1]
    np.testing.assert_array_equal(train[0]["depth"], value[18 + 2 : 18 + 2 + 347, 4:1220].astype(np.float32) / 256)
    assert train[0]["image"].shape == (56, 196, 3)
    assert parse_line("2011_09_26/2011_09_26_drive_0002_sync 69 r") == (
        "2011_09_26/2011_09_26_drive_0002_sync/image_03/data/0000000069.png",
        "2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_03/0000000069.png",
    )


def test_garg_fractions_match_the_metric_crop():
    assert GARG_FRACTIONS == GARG_CROP


def test_missing_files_are_named(tmp_path):
    with pytest.raises(DatasetError, match=r"eigen_test_files_with_gt.txt is missing .*datasets/kitti/README.md"):
        open_dataset("kitti", "test", str(tmp_path), image_size=(56, 196))
    assert len(check_kitti(tmp_path)) == 4
    write_kitti(tmp_path)
    assert check_kitti(tmp_path) == []
    depth = next((tmp_path / "data_depth_annotated").rglob("0000000069.png"))
    depth.unlink()
    with pytest.raises(DatasetError, match=r"groundtruth/image_02/0000000069.png is missing, listed by eigen_test"):
        open_dataset("kitti", "test", str(tmp_path), image_size=(56, 196))
    (tmp_path / "eigen_test_files_with_gt.txt").write_text("only-one-field\n")
    with pytest.raises(DatasetError, match=r"eigen_test_files_with_gt.txt:1: expected 'image depth"):
        open_dataset("kitti", "test", str(tmp_path), image_size=(56, 196))


def test_extract_kitti_stores_kb_cropped_depth(tmp_path):
    frames = write_kitti(tmp_path)
    config = ExtractConfig(
        backbone="test-dinov2",
        random_init=True,
        dataset="kitti",
        root=str(tmp_path),
        split="test",
        image_size=(56, 196),
        batch_size=2,
        workers=0,
    )
    path = extract(config, tmp_path / "store.h5", progress=False)
    value = frames["2011_09_26_drive_0002_sync/image_02/0000000069"][1]
    with h5py.File(path, "r") as f:
        assert f["targets/depth"].shape == (2, 347, 1216)
        np.testing.assert_array_equal(f["targets/depth"][0], value[25:372, 13:1229].astype(np.float32) / 256)
        assert f["targets/depth"].attrs["max_depth"] == 80.0
