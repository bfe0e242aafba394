"""ADE20K adapter on a tiny ADEChallengeData2016 tree: reduce_zero_label masks, fit, layout errors, extraction."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PIL import Image

from probekit.data import open_dataset
from probekit.data.ade20k import ADE20K, CLASS_NAMES, check_layout
from probekit.errors import DatasetError
from probekit.features import ExtractConfig, extract

SIZE = (8, 12)  # (H, W) of the source images: non-square


def _labels(seed: int) -> np.ndarray:
    """(8, 12) raw labels 0..150 made of 2x2 blocks, so a 2x nearest downscale is exact."""
    blocks = np.random.default_rng(seed).integers(0, 151, size=(SIZE[0] // 2, SIZE[1] // 2))
    blocks[0, 0], blocks[0, 1] = 0, 150  # 'other' and the last class
    return np.kron(blocks, np.ones((2, 2), dtype=np.int64)).astype(np.uint8)


def write_ade20k(root, counts=(("training", 3), ("validation", 2))):
    """ADEChallengeData2016 as released: images/<dir>/*.jpg, annotations/<dir>/*.png (mode L, 0..150)."""
    base = root / "ADEChallengeData2016"
    labels = {}
    for folder, count in counts:
        (base / "images" / folder).mkdir(parents=True)
        (base / "annotations" / folder).mkdir(parents=True)
        tag = "train" if folder == "training" else "val"
        for i in range(1, count + 1):
            stem = f"ADE_{tag}_{i:08d}"
            rgb = np.random.default_rng(i).integers(0, 256, size=(*SIZE, 3), dtype=np.uint8)
            Image.fromarray(rgb).save(base / "images" / folder / f"{stem}.jpg")
            labels[stem] = _labels(100 * len(tag) + i)
            Image.fromarray(labels[stem]).save(base / "annotations" / folder / f"{stem}.png")
    return base, labels


def _reduced(raw: np.ndarray) -> np.ndarray:
    return np.where(raw == 0, 255, raw.astype(np.int64) - 1).astype(np.uint8)


def test_masks_are_reduced_zero_label_at_identity_size(tmp_path):
    base, labels = write_ade20k(tmp_path)
    dataset = ADE20K("train", base, SIZE)
    assert [dataset[i]["id"] for i in range(len(dataset))] == [
        "ADE_train_00000001",
        "ADE_train_00000002",
        "ADE_train_00000003",
    ]
    sample = dataset[1]
    assert sample["image"].shape == (*SIZE, 3) and sample["image"].dtype == np.uint8
    assert sample["mask"].dtype == np.uint8
    np.testing.assert_array_equal(sample["mask"], _reduced(labels["ADE_train_00000002"]))
    assert sample["mask"][0, 0] == 255 and sample["mask"][0, 2] == 149
    attrs = dataset.targets["mask"].attrs
    assert attrs["num_classes"] == 150 == len(attrs["class_names"]) and attrs["ignore_index"] == 255
    assert attrs["class_names"][:3] == ["wall", "building", "sky"] and attrs["class_names"][-1] == "flag"
    assert attrs["zero_label_reduced"] is True
    assert len(set(CLASS_NAMES)) == 150


def test_crop_keeps_the_centre_and_pad_fills_with_ignore(tmp_path):
    base, labels = write_ade20k(tmp_path)
    raw = _reduced(labels["ADE_val_00000001"])  # (8, 12)
    cropped = ADE20K("val", base, (4, 4))[0]["mask"]  # scale 0.5 -> (4, 6), centre columns 1..4
    np.testing.assert_array_equal(cropped, raw[::2, ::2][:, 1:5])
    padded = ADE20K("val", base, (12, 12), fit="pad")[0]  # scale 1, rows 2..9 hold the image
    np.testing.assert_array_equal(padded["mask"][2:10], raw)
    assert (padded["mask"][:2] == 255).all() and (padded["mask"][10:] == 255).all()
    assert (padded["image"][:2] == 0).all()


def test_missing_annotation_is_named(tmp_path):
    base, _ = write_ade20k(tmp_path)
    (base / "annotations" / "training" / "ADE_train_00000002.png").unlink()
    with pytest.raises(
        DatasetError,
        match=r"annotations/training/ADE_train_00000002\.png is missing.*"
        r"datasets/ade20k/README\.md",
    ):
        ADE20K("train", base, SIZE)
    assert check_layout(base) == ["annotations/training/ADE_train_00000002.png"]


def test_layout_check_names_missing_folders_and_accepts_the_parent(tmp_path):
    base, _ = write_ade20k(tmp_path, counts=(("training", 1),))
    assert check_layout(base) == ["images/validation", "annotations/validation"]
    with pytest.raises(DatasetError, match=r"images/validation is missing \(and 1 more\)"):
        ADE20K("val", tmp_path, SIZE)  # the parent of ADEChallengeData2016 works as root
    assert len(ADE20K("train", tmp_path, SIZE)) == 1
    write_ade20k(tmp_path / "full")
    assert check_layout(tmp_path / "full") == []


def test_label_outside_0_150_is_an_error_naming_the_file(tmp_path):
    base, _ = write_ade20k(tmp_path)
    path = base / "annotations" / "validation" / "ADE_val_00000002.png"
    Image.fromarray(np.full(SIZE, 200, dtype=np.uint8)).save(path)
    with pytest.raises(DatasetError, match=r"ADE_val_00000002\.png holds label values \[200\], expected 0\.\.150"):
        ADE20K("val", base, SIZE)[1]


def test_limit_and_subset_seed(tmp_path):
    base, _ = write_ade20k(tmp_path, counts=(("training", 6), ("validation", 1)))
    first = open_dataset("ade20k", "train", str(base), SIZE, limit=2)
    assert [first[i]["id"] for i in range(2)] == ["ADE_train_00000001", "ADE_train_00000002"]
    seeded = open_dataset("ade20k", "train", str(base), SIZE, limit=3, subset_seed=1)
    ids = [seeded[i]["id"] for i in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert (
        seeded.fingerprint() != open_dataset("ade20k", "train", str(base), SIZE, limit=3, subset_seed=2).fingerprint()
    )


def test_extract_writes_masks_and_their_attrs(tmp_path):
    base, _labels = write_ade20k(tmp_path)
    config = ExtractConfig(
        backbone="test-dinov2",
        random_init=True,
        dataset="ade20k",
        split="val",
        root=str(base),
        image_size=(56, 56),
        batch_size=2,
        workers=0,
    )
    out = extract(config, tmp_path / "ade.h5", progress=False)
    expected = ADE20K("val", base, (56, 56))
    with h5py.File(out, "r") as f:
        assert f["targets/mask"].shape == (2, 56, 56)
        np.testing.assert_array_equal(f["targets/mask"][1], expected[1]["mask"])
        assert f["targets/mask"].attrs["num_classes"] == 150
        assert f.attrs["fit"] == "crop" and f.attrs["dataset"] == "ade20k"
