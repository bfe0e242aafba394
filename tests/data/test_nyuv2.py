"""NYU Depth v2 adapters on miniature files in the official formats: the labeled .mat (MATLAB v7.3 = HDF5,
stored transposed), splits.mat (MATLAB v5, 1-based column vectors) and BTS's sync / official_splits tree."""

from __future__ import annotations

import pickle

import cv2
import h5py
import numpy as np
import pytest
import scipy.io
import torch

from probekit.data import open_dataset
from probekit.data.nyuv2 import NYUv2Labeled, check_nyuv2
from probekit.data.nyuv2_sync import check_nyuv2_sync
from probekit.errors import DatasetError
from probekit.features import ExtractConfig, extract
from probekit.metrics.depth import EIGEN_CROP, crop_mask

H, W, N = 12, 16, 5  # a 3:4 frame like NYU's 480x640, small
TRAIN, TEST = [1, 3, 4], [2, 5]  # 1-based, as in splits.mat


def _rgb() -> np.ndarray:
    """(N, H, W, 3) with every (n, row, col, channel) distinct enough that a transpose shows."""
    n, y, x, c = np.meshgrid(np.arange(N), np.arange(H), np.arange(W), np.arange(3), indexing="ij")
    return ((n * 41 + y * 13 + x * 3 + c * 101) % 256).astype(np.uint8)


def _depth() -> np.ndarray:
    """(N, H, W) metres, row-dependent so a transpose shows; rawDepths-style holes (0) in a corner."""
    n, y, x = np.meshgrid(np.arange(N), np.arange(H), np.arange(W), indexing="ij")
    return (0.5 + n + 0.25 * y + 0.01 * x).astype(np.float32)


def write_nyuv2(root) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """nyu_depth_v2_labeled.mat as MATLAB v7.3 writes it (512-byte user block, column-major -> transposed)."""
    rgb, depth = _rgb(), _depth()
    raw = depth.copy()
    raw[:, :3, :4] = 0.0
    with h5py.File(root / "nyu_depth_v2_labeled.mat", "w", userblock_size=512) as f:
        f["images"] = rgb.transpose(0, 3, 2, 1)  # (N, 3, W, H)
        f["depths"] = depth.transpose(0, 2, 1)  # (N, W, H)
        f["rawDepths"] = raw.transpose(0, 2, 1)
    scipy.io.savemat(
        root / "splits.mat",
        {"trainNdxs": np.array(TRAIN, dtype=float)[:, None], "testNdxs": np.array(TEST, dtype=float)[:, None]},
    )
    return rgb, depth, raw


def test_labeled_mat_orientation_and_official_split(tmp_path):
    rgb, depth, raw = write_nyuv2(tmp_path)
    train = open_dataset("nyuv2", "train", str(tmp_path), image_size=(H, W))
    test = open_dataset("nyuv2", "test", str(tmp_path), image_size=(H, W))
    assert len(train) == 3 and len(test) == 2
    assert [train[i]["id"] for i in range(3)] == ["nyuv2-0001", "nyuv2-0003", "nyuv2-0004"]
    sample = test[1]  # MATLAB index 5
    assert sample["image"].dtype == np.uint8 and sample["depth"].dtype == np.float32
    np.testing.assert_array_equal(sample["image"], rgb[4])  # same size, 3:4 window = whole frame: exact
    np.testing.assert_array_equal(sample["depth"], depth[4])
    raw_sample = open_dataset("nyuv2-raw", "test", str(tmp_path), image_size=(H, W))[1]
    np.testing.assert_array_equal(raw_sample["depth"], raw[4])
    assert (raw_sample["depth"][:3, :4] == 0).all()
    attrs = train.targets["depth"].attrs
    assert attrs["unit"] == "m" and attrs["invalid_value"] == 0.0 and attrs["max_depth"] == 10.0
    assert attrs["crop"] == "eigen" and train.targets["depth"].shape == (H, W)


def test_depth_stays_at_original_resolution_in_the_image_window(tmp_path):
    _rgb, depth, _ = write_nyuv2(tmp_path)
    dataset = open_dataset("nyuv2", "train", str(tmp_path), image_size=(14, 14))  # square: crop the sides
    sample = dataset[0]
    assert sample["image"].shape == (14, 14, 3) and dataset.targets["depth"].shape == (12, 12)
    np.testing.assert_array_equal(sample["depth"], depth[0][:, 2:14])  # the image's field of view, full res
    pixel_map = dataset.targets["depth"].attrs["pixel_map"]
    np.testing.assert_allclose(pixel_map, [14 / 12, 14 / 12, -2 * 14 / 12, 0.0], rtol=1e-6)


def test_limit_reads_lazily_and_pickles_without_the_file(tmp_path):
    write_nyuv2(tmp_path)
    dataset = open_dataset("nyuv2", "train", str(tmp_path), image_size=(H, W), limit=2)
    assert len(dataset) == 2 and dataset.dataset._file is None  # opening read shapes only
    dataset[1]
    assert dataset.dataset._file is not None
    copy = pickle.loads(pickle.dumps(dataset))  # what a DataLoader worker receives
    assert copy.dataset._file is None
    np.testing.assert_array_equal(copy[1]["depth"], dataset[1]["depth"])


def test_missing_and_wrong_files_are_named(tmp_path):
    with pytest.raises(
        DatasetError, match=r"nyu_depth_v2_labeled.mat is missing \(and 1 more\).*datasets/nyuv2/README.md"
    ):
        open_dataset("nyuv2", "train", str(tmp_path), image_size=(H, W))
    assert len(check_nyuv2(tmp_path)) == 2
    write_nyuv2(tmp_path)
    assert check_nyuv2(tmp_path) == []
    with pytest.raises(DatasetError, match="no val: probekit probe holds out every 10th training sample"):
        NYUv2Labeled("val", str(tmp_path), (H, W))
    (tmp_path / "splits.mat").unlink()
    with pytest.raises(DatasetError, match=r"splits.mat is missing; expected layout"):
        open_dataset("nyuv2", "train", str(tmp_path), image_size=(H, W))
    scipy.io.savemat(tmp_path / "nyu_depth_v2_labeled.mat", {"images": np.zeros(3)})  # v5, not HDF5
    scipy.io.savemat(tmp_path / "splits.mat", {"trainNdxs": np.array([[1.0]])})
    with pytest.raises(DatasetError, match=r"cannot open .*nyu_depth_v2_labeled.mat as MATLAB v7.3"):
        NYUv2Labeled("train", str(tmp_path), (H, W))
    with pytest.raises(DatasetError, match=r"splits.mat has no 'testNdxs'"):
        NYUv2Labeled("test", str(tmp_path), (H, W))


def test_eigen_box_matches_the_metric_crop():
    box = np.zeros((480, 640), dtype=bool)
    from probekit.data.depth_targets import EIGEN_BOX_480x640

    top, bottom, left, right = EIGEN_BOX_480x640
    box[top:bottom, left:right] = True
    assert torch.equal(crop_mask(480, 640, "eigen"), torch.from_numpy(box))
    assert EIGEN_CROP[0] * 480 == 45


# --- BTS layout: sync/ (train) and official_splits/test/ with 16-bit millimetre PNGs ---


def _write_pair(folder, index: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:480, 0:640]
    rgb = np.stack([(y // 2) % 256, (x // 3) % 256, np.full_like(y, 40 * seed)], axis=-1).astype(np.uint8)
    mm = ((y * 7 + x * 3 + 500 * seed) % 9000 + 500).astype(np.uint16)
    mm[:10] = 0  # invalid rows
    mm[20, 30] = 1234
    assert cv2.imwrite(str(folder / f"rgb_{index:05d}.jpg"), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert cv2.imwrite(str(folder / f"sync_depth_{index:05d}.png"), mm)
    return rgb, mm


def write_sync(root, with_lists: bool = True):
    pairs = {
        "kitchen_0028b/rgb_00045": _write_pair(root / "sync/kitchen_0028b", 45, 1),
        "bedroom_0060/rgb_00081": _write_pair(root / "sync/bedroom_0060", 81, 2),
        "bathroom/rgb_00045": _write_pair(root / "official_splits/test/bathroom", 45, 3),
    }
    if with_lists:
        (root / "nyudepthv2_train_files_with_gt.txt").write_text(
            "/kitchen_0028b/rgb_00045.jpg /kitchen_0028b/sync_depth_00045.png 518.8579\n"
            "/bedroom_0060/rgb_00081.jpg /bedroom_0060/sync_depth_00081.png 518.8579\n"
        )
        (root / "nyudepthv2_test_files_with_gt.txt").write_text(
            "bathroom/rgb_00045.jpg bathroom/sync_depth_00045.png 518.8579\n"
        )
    return pairs


@pytest.mark.parametrize("with_lists", [True, False])
def test_sync_layout_millimetres_to_metres(tmp_path, with_lists):
    pairs = write_sync(tmp_path, with_lists)
    train = open_dataset("nyuv2-sync", "train", str(tmp_path), image_size=(336, 448))  # 3:4: whole frame
    ids = [train[i]["id"] for i in range(len(train))]
    assert sorted(ids) == ["bedroom_0060/rgb_00081", "kitchen_0028b/rgb_00045"]
    sample = train[ids.index("kitchen_0028b/rgb_00045")]
    rgb, mm = pairs["kitchen_0028b/rgb_00045"]
    assert sample["depth"].shape == (480, 640) and sample["depth"].dtype == np.float32
    np.testing.assert_array_equal(sample["depth"], mm.astype(np.float32) / 1000)
    assert sample["depth"][20, 30] == np.float32(1.234) and (sample["depth"][:10] == 0).all()
    np.testing.assert_array_equal(sample["eval_crop"], [45, 471, 41, 601])
    expected = cv2.resize(rgb, (448, 336), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(sample["image"].astype(int) - expected).mean() < 2  # JPEG, resized: RGB order and orientation
    test = open_dataset("nyuv2-sync", "test", str(tmp_path), image_size=(336, 448))
    assert len(test) == 1 and test[0]["id"] == "bathroom/rgb_00045"
    assert test.targets["depth"].attrs["depth_png_scale"] == 1000.0


def test_sync_errors_name_the_missing_file(tmp_path):
    with pytest.raises(DatasetError, match=r"neither .*nyudepthv2_test_files_with_gt.txt nor .*official_splits/test/"):
        open_dataset("nyuv2-sync", "test", str(tmp_path), image_size=(42, 56))
    assert len(check_nyuv2_sync(tmp_path)) == 2
    write_sync(tmp_path)
    assert check_nyuv2_sync(tmp_path) == []
    (tmp_path / "sync/bedroom_0060/sync_depth_00081.png").unlink()
    with pytest.raises(DatasetError, match=r"bedroom_0060/sync_depth_00081.png is missing, listed by nyudepthv2_train"):
        open_dataset("nyuv2-sync", "train", str(tmp_path), image_size=(42, 56))


def test_extract_nyuv2_stores_full_resolution_depth_and_eval_box(tmp_path):
    _, depth, _ = write_nyuv2(tmp_path)
    config = ExtractConfig(
        backbone="test-dinov2",
        random_init=True,
        dataset="nyuv2",
        root=str(tmp_path),
        split="train",
        image_size=(42, 56),
        batch_size=2,
        workers=0,
    )
    path = extract(config, tmp_path / "store.h5", progress=False)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["targets/depth"][()], depth[[0, 2, 3]])
        assert f["targets/depth"].attrs["crop"] == "eigen"
        np.testing.assert_array_equal(f["targets/eval_crop"][0], [1, 11, 1, 15])  # Eigen box scaled to 12x16
