"""ImageFolder and CSV classification adapters on tiny trees: labels, class lists across splits, crop windows,
errors."""

from __future__ import annotations

import cv2
import h5py
import numpy as np
import pytest

from probekit.data import open_dataset
from probekit.data.crop_window import centre_window
from probekit.data.csvlist import check_csv
from probekit.data.imagefolder import check_imagefolder
from probekit.errors import DatasetError
from probekit.features import ExtractConfig, extract


def _image(seed: int, shape=(8, 12)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(*shape, 3), dtype=np.uint8)


def _write(path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb[..., ::-1])  # cv2 writes BGR


def write_folders(root) -> dict[str, np.ndarray]:
    """train/{cat,dog}, val/dog only (labels must still follow train's classes); a nested folder, an
    upper-case extension and a stray text file."""
    images = {
        "train/cat/a.png": _image(1),
        "train/cat/sub/b.PNG": _image(2),
        "train/dog/c.png": _image(3),
        "val/dog/d.png": _image(4),
    }
    for rel, rgb in images.items():
        _write(root / rel, rgb)
    (root / "train/dog/notes.txt").write_text("not an image")
    return images


def test_imagefolder_labels_follow_the_training_classes(tmp_path):
    images = write_folders(tmp_path)
    train = open_dataset("imagefolder", "train", str(tmp_path), image_size=(8, 8))
    assert [train[i]["id"] for i in range(len(train))] == ["train/cat/a.png", "train/cat/sub/b.PNG", "train/dog/c.png"]
    assert [int(train[i]["label"]) for i in range(3)] == [0, 0, 1]
    assert train.targets["label"].attrs == {"num_classes": 2, "class_names": ["cat", "dog"]}
    val = open_dataset("imagefolder", "val", str(tmp_path), image_size=(8, 8))
    assert len(val) == 1 and int(val[0]["label"]) == 1 and val.targets["label"].attrs["num_classes"] == 2
    # 8x12 original, 8x8 size: the centred 8x8 window, no resampling -> exact pixels, RGB order kept
    sample = train[2]
    assert sample["image"].dtype == np.uint8 and sample["image"].shape == (8, 8, 3)
    np.testing.assert_array_equal(sample["image"], images["train/dog/c.png"][:, 2:10])


def test_crop_fraction_keeps_the_centre_like_resize_256_crop_224(tmp_path):
    rgb = _image(5, shape=(16, 16))
    _write(tmp_path / "train/a/x.png", rgb)
    plain = open_dataset("imagefolder", "train", str(tmp_path), image_size=(14, 14))
    cropped = open_dataset("imagefolder-crop0.875", "train", str(tmp_path), image_size=(14, 14))
    np.testing.assert_array_equal(cropped[0]["image"], rgb[1:15, 1:15])  # round(16 * 0.875) = 14: no resampling
    assert not np.array_equal(plain[0]["image"], cropped[0]["image"])  # the plain one is the whole image, resized
    assert cropped.describe()["crop_fraction"] == 0.875


def test_centre_window_shapes():
    assert centre_window((480, 640), (336, 448)).as_list() == [0, 0, 480, 640]  # same aspect: whole frame
    assert centre_window((480, 640), (224, 294)).as_list() == [0, 5, 480, 630]  # narrower: full height
    assert centre_window((375, 500), (224, 224), 0.875).as_list() == [23, 86, 328, 328]  # shorter side x 0.875
    assert centre_window((352, 1216), (350, 1218)).as_list() == [1, 0, 349, 1216]  # wider: full width


def test_imagefolder_errors_name_the_path(tmp_path):
    write_folders(tmp_path)
    with pytest.raises(DatasetError, match=r"test is missing.*datasets/imagefolder/README.md"):
        open_dataset("imagefolder", "test", str(tmp_path), image_size=(8, 8))
    _write(tmp_path / "val/bird/e.png", _image(6))
    with pytest.raises(DatasetError, match=r"val/bird is not a class of .*train"):
        open_dataset("imagefolder", "val", str(tmp_path), image_size=(8, 8))
    (tmp_path / "empty/train/cat").mkdir(parents=True)
    with pytest.raises(DatasetError, match="found no image files"):
        open_dataset("imagefolder", "train", str(tmp_path / "empty"), image_size=(8, 8))
    assert check_imagefolder(tmp_path) == []
    assert "no split folder" in check_imagefolder(tmp_path / "empty/train")[0]
    (tmp_path / "train/cat/a.png").write_bytes(b"not a png")
    dataset = open_dataset("imagefolder", "train", str(tmp_path), image_size=(8, 8))
    with pytest.raises(DatasetError, match=r"cannot read image .*train/cat/a.png"):
        dataset[0]


def test_csv_lists_with_integer_or_named_labels(tmp_path):
    images = write_folders(tmp_path)
    (tmp_path / "train.csv").write_text("path,label\ntrain/cat/a.png,cat\ntrain/dog/c.png,dog\n")
    (tmp_path / "val.csv").write_text("val/dog/d.png,dog\n")  # no header
    train = open_dataset("csv", "train", str(tmp_path), image_size=(8, 8))
    val = open_dataset("csv", "val", str(tmp_path), image_size=(8, 8))
    assert [int(train[i]["label"]) for i in range(2)] == [0, 1] and int(val[0]["label"]) == 1
    assert val.targets["label"].attrs["class_names"] == ["cat", "dog"]
    np.testing.assert_array_equal(val[0]["image"], images["val/dog/d.png"][:, 2:10])

    (tmp_path / "train.csv").write_text("train/cat/a.png,3\ntrain/dog/c.png,007\n")
    (tmp_path / "val.csv").write_text("path,label\nval/dog/d.png,1\n")
    train = open_dataset("csv", "train", str(tmp_path), image_size=(8, 8))
    assert [int(train[i]["label"]) for i in range(2)] == [3, 7] and train.targets["label"].attrs["num_classes"] == 8
    assert open_dataset("csv", "val", str(tmp_path), image_size=(8, 8)).targets["label"].attrs["num_classes"] == 8
    assert check_csv(tmp_path) == [] and check_csv(tmp_path / "train") != []


@pytest.mark.parametrize(
    "train_csv, val_csv, message",
    [
        ("train/cat/a.png,cat\n", "val/dog/nope.png,cat\n", r"val/dog/nope.png is missing \(listed in .*val.csv:1\)"),
        ("train/cat/a.png,cat\n", "val/dog/d.png,dog\n", r"val.csv:1: label 'dog' is not a class name of train.csv"),
        ("train/cat/a.png,0\n", "val/dog/d.png,1\n", r"val.csv:1: label '1' is not an integer 0..0 of train.csv"),
        ("train/cat/a.png,0\n", "val/dog/d.png,-1\n", r"label '-1' is not an integer"),
        ("train/cat/a.png,0\ntrain/dog/c.png,dog\n", "val/dog/d.png,1\n", r"train.csv:2: label 'dog' mixes"),
        ("train/cat/a.png,0\n", "val/dog/d.png\n", r"val.csv:1: expected 2 columns"),
    ],
)
def test_csv_errors_name_file_and_line(tmp_path, train_csv, val_csv, message):
    write_folders(tmp_path)
    (tmp_path / "train.csv").write_text(train_csv)
    (tmp_path / "val.csv").write_text(val_csv)
    with pytest.raises(DatasetError, match=message):
        open_dataset("csv", "val", str(tmp_path), image_size=(8, 8))


def test_csv_missing_list_names_it(tmp_path):
    with pytest.raises(DatasetError, match=r"test.csv is missing .*datasets/imagefolder/README.md"):
        open_dataset("csv", "test", str(tmp_path), image_size=(8, 8))


def test_extract_imagefolder_stores_labels(tmp_path):
    write_folders(tmp_path)
    config = ExtractConfig(
        backbone="test-dinov2",
        random_init=True,
        dataset="imagefolder",
        root=str(tmp_path),
        split="train",
        image_size=(56, 56),
        batch_size=2,
        workers=0,
    )
    path = extract(config, tmp_path / "store.h5", progress=False)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["targets/label"][()], [0, 0, 1])
        assert [s.decode() for s in f["ids"][()]] == ["train/cat/a.png", "train/cat/sub/b.PNG", "train/dog/c.png"]
