"""Cityscapes adapter on a tiny leftImg8bit/gtFine tree: labelTrainIds, labelIds mapped by the official table."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PIL import Image

from probekit.data import open_dataset
from probekit.data.cityscapes import LABELS, Cityscapes, check_layout
from probekit.errors import DatasetError
from probekit.features import ExtractConfig, FeatureStore, extract

SIZE = (8, 16)  # (H, W): Cityscapes' 1:2 aspect
FILES = {
    "train": [
        ("aachen", "aachen_000000_000019"),
        ("aachen", "aachen_000001_000019"),
        ("bochum", "bochum_000000_000313"),
    ],
    "val": [("frankfurt", "frankfurt_000000_000294")],
}
LABEL_IDS = np.array([label_id for _, label_id, _ in LABELS])  # 0..33
TRAIN_ID = dict((label_id, train_id) for _, label_id, train_id in LABELS)


def _blocks(seed: int, values: np.ndarray, channels: tuple[int, ...] = ()) -> np.ndarray:
    """(8, 16, *channels) of 2x2 constant blocks, so a 2x downscale (nearest or area) is exact."""
    small = np.random.default_rng(seed).choice(values, size=(SIZE[0] // 2, SIZE[1] // 2, *channels))
    return small.repeat(2, axis=0).repeat(2, axis=1).astype(np.uint8)


def write_cityscapes(root, label_ids_only=("aachen_000001_000019",)):
    """The release layout; the stems in `label_ids_only` have only *_gtFine_labelIds.png (no labelTrainIds)."""
    truth = {}
    for split, files in FILES.items():
        for i, (city, stem) in enumerate(files):
            (root / "leftImg8bit" / split / city).mkdir(parents=True, exist_ok=True)
            (root / "gtFine" / split / city).mkdir(parents=True, exist_ok=True)
            image = _blocks(i, np.arange(256), (3,))
            Image.fromarray(image).save(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png")
            label_ids = _blocks(10 + i, LABEL_IDS)
            train_ids = np.vectorize(TRAIN_ID.get)(label_ids).astype(np.uint8)
            Image.fromarray(label_ids).save(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png")
            if stem not in label_ids_only:
                Image.fromarray(train_ids).save(root / "gtFine" / split / city / f"{stem}_gtFine_labelTrainIds.png")
            truth[stem] = (image, train_ids)
    return truth


def test_train_ids_and_mapped_label_ids_at_identity_size(tmp_path):
    truth = write_cityscapes(tmp_path)
    dataset = Cityscapes("train", tmp_path, SIZE)
    assert [dataset[i]["id"] for i in range(3)] == [stem for _, stem in FILES["train"]]
    for i, (_, stem) in enumerate(FILES["train"]):
        sample = dataset[i]
        np.testing.assert_array_equal(sample["image"], truth[stem][0])  # PNG: lossless
        np.testing.assert_array_equal(sample["mask"], truth[stem][1])
    assert dataset.items[1].label.name == "aachen_000001_000019_gtFine_labelIds.png"
    assert len(dataset.describe()["label_sources"]) == 2
    attrs = dataset.targets["mask"].attrs
    assert attrs["num_classes"] == 19 and attrs["class_names"][0] == "road" and attrs["class_names"][-1] == "bicycle"


def test_official_label_id_table():
    assert [TRAIN_ID[i] for i in (0, 7, 8, 11, 24, 26, 31, 33, 9, 29)] == [255, 0, 1, 2, 11, 13, 16, 18, 255, 255]
    assert sorted(t for t in TRAIN_ID.values() if t != 255) == list(range(19))


def test_crop_of_a_wide_image_keeps_the_centre(tmp_path):
    truth = write_cityscapes(tmp_path)
    sample = Cityscapes("val", tmp_path, (4, 4))[0]  # scale 0.5 -> (4, 8), centre columns 2..5
    image, train_ids = truth["frankfurt_000000_000294"]
    np.testing.assert_array_equal(sample["mask"], train_ids[::2, ::2][:, 2:6])
    np.testing.assert_array_equal(sample["image"][1, 0], image[2, 4])  # stored (1, 0) <- source block (2, 4)


def test_missing_label_is_named(tmp_path):
    write_cityscapes(tmp_path)
    (tmp_path / "gtFine/train/bochum/bochum_000000_000313_gtFine_labelIds.png").unlink()
    (tmp_path / "gtFine/train/bochum/bochum_000000_000313_gtFine_labelTrainIds.png").unlink()
    with pytest.raises(
        DatasetError,
        match=r"gtFine/train/bochum/bochum_000000_000313_gtFine_labelTrainIds\.png "
        r"is missing.*datasets/cityscapes/README\.md",
    ):
        Cityscapes("train", tmp_path, SIZE)
    assert check_layout(tmp_path) == ["gtFine/train/bochum/bochum_000000_000313_gtFine_labelTrainIds.png"]


def test_layout_check(tmp_path):
    assert check_layout(tmp_path) == ["leftImg8bit/train", "gtFine/train", "leftImg8bit/val", "gtFine/val"]
    write_cityscapes(tmp_path)
    assert check_layout(tmp_path) == []


def test_label_id_outside_the_table_is_an_error(tmp_path):
    write_cityscapes(tmp_path)
    path = tmp_path / "gtFine/train/aachen/aachen_000001_000019_gtFine_labelIds.png"
    Image.fromarray(np.full(SIZE, 40, np.uint8)).save(path)
    with pytest.raises(DatasetError, match=r"labelIds\.png holds label values \[40\], expected 0\.\.33"):
        Cityscapes("train", tmp_path, SIZE)[1]


def test_limit_and_extract(tmp_path):
    write_cityscapes(tmp_path)
    assert [
        s["id"] for s in (open_dataset("cityscapes", "train", str(tmp_path), SIZE, limit=2)[i] for i in range(2))
    ] == ["aachen_000000_000019", "aachen_000001_000019"]
    config = ExtractConfig(
        backbone="test-dinov2",
        random_init=True,
        dataset="cityscapes",
        split="train",
        root=str(tmp_path),
        image_size=(56, 112),
        batch_size=2,
        workers=0,
        limit=2,
        subset_seed=3,
    )
    out = extract(config, tmp_path / "cs.h5", progress=False)
    with h5py.File(out, "r") as f:
        assert f["targets/mask"].shape == (2, 56, 112) and f["targets/mask"].attrs["ignore_index"] == 255
    assert FeatureStore(out).grid == (4, 8)  # a 1:2 image at 56x112 through patch 14
