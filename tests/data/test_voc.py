"""VOC 2012 adapter on a tiny VOCdevkit: palette indices with 255 boundaries, root forms, SBD train_aug, errors."""

from __future__ import annotations

import cv2
import h5py
import numpy as np
import pytest
from PIL import Image

from probekit.data import open_dataset
from probekit.data.voc import VOC, check_layout
from probekit.errors import DatasetError
from probekit.features import ExtractConfig, extract

SIZE = (10, 14)  # (H, W)
TRAIN, VAL, AUG = ["2007_000032", "2007_000039"], ["2007_000063"], ["2008_000002", "2008_000003"]


def _palette() -> list[int]:
    """VOC's colour map (the bit-interleaved one in the devkit), 256 RGB triples."""
    colours = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colours += [r, g, b]
    return colours


def _indices(seed: int) -> np.ndarray:
    """(10, 14) classes 0..20 with a ring of 255 boundary pixels around one object."""
    labels = np.random.default_rng(seed).integers(0, 21, size=SIZE).astype(np.uint8)
    labels[2:6, 3:8] = 255
    labels[3:5, 4:7] = 15
    return labels


def write_voc(root, aug: str | None = None, val: list[str] = VAL):
    """root/VOCdevkit/VOC2012 as in VOCtrainval_11-May-2012.tar; aug: None, 'mmseg' (aug.txt) or 'deeplab'."""
    base = root / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / folder).mkdir(parents=True)
    labels = {}
    for i, sample in enumerate(TRAIN + VAL + (AUG if aug else [])):
        rgb = np.random.default_rng(i).integers(0, 256, size=(*SIZE, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(base / "JPEGImages" / f"{sample}.jpg")
        labels[sample] = _indices(i)
        if sample in TRAIN + VAL:
            png = Image.fromarray(labels[sample], mode="P")
            png.putpalette(_palette())
            png.save(base / "SegmentationClass" / f"{sample}.png")
    (base / "ImageSets/Segmentation/train.txt").write_text("\n".join(TRAIN) + "\n")
    (base / "ImageSets/Segmentation/val.txt").write_text("\n".join(val) + "\n")
    if aug:
        (base / "SegmentationClassAug").mkdir()
        for sample in TRAIN + AUG:  # SBD's version of a train image differs from VOC's: VOC's must win
            grey = labels[sample] if sample in AUG else np.zeros(SIZE, np.uint8)
            Image.fromarray(grey).save(base / "SegmentationClassAug" / f"{sample}.png")  # mode L
        lists = {"mmseg": {"aug.txt": AUG, "trainaug.txt": TRAIN + AUG}, "deeplab": {"train_aug.txt": TRAIN + AUG}}
        for name, ids in lists[aug].items():
            (base / "ImageSets/Segmentation" / name).write_text("\n".join(ids) + "\n")
    return base, labels


def test_palette_pngs_are_read_as_indices_with_boundaries(tmp_path):
    base, labels = write_voc(tmp_path)
    png = base / "SegmentationClass" / "2007_000039.png"
    assert Image.open(png).mode == "P" and cv2.imread(str(png), cv2.IMREAD_UNCHANGED).ndim == 3  # cv2: colours
    dataset = VOC("train", base, SIZE)
    assert [dataset[i]["id"] for i in range(len(dataset))] == TRAIN
    mask = dataset[1]["mask"]
    np.testing.assert_array_equal(mask, labels["2007_000039"])
    assert mask[2, 3] == 255 and mask[3, 4] == 15
    attrs = dataset.targets["mask"].attrs
    assert attrs["num_classes"] == 21 and attrs["class_names"][0] == "background" and attrs["ignore_index"] == 255


def test_crop_of_a_non_square_image_keeps_the_centre(tmp_path):
    base, labels = write_voc(tmp_path)
    mask = VOC("val", base, (10, 10))[0]["mask"]  # scale 1, columns 2..11 of 14
    np.testing.assert_array_equal(mask, labels["2007_000063"][:, 2:12])
    assert mask[2, 1] == 255 and mask[3, 2] == 15


@pytest.mark.parametrize("relative", ["VOCdevkit/VOC2012", "VOCdevkit", "."])
def test_root_may_be_voc2012_vocdevkit_or_its_parent(tmp_path, relative):
    write_voc(tmp_path)
    assert len(VOC("val", tmp_path / relative, SIZE)) == 1
    assert check_layout(tmp_path / relative) == []


@pytest.mark.parametrize("aug", ["mmseg", "deeplab"])
def test_train_aug_takes_voc_labels_for_train_ids_and_sbd_labels_for_the_rest(tmp_path, aug):
    base, labels = write_voc(tmp_path, aug=aug)
    dataset = VOC("train_aug", base, SIZE)
    assert [dataset[i]["id"] for i in range(len(dataset))] == TRAIN + AUG
    for i, sample in enumerate(TRAIN + AUG):
        np.testing.assert_array_equal(dataset[i]["mask"], labels[sample])
    assert dataset.describe()["id_list"].endswith("aug.txt")
    assert check_layout(base) == []


def test_train_aug_overlapping_val_is_refused(tmp_path):
    base, _ = write_voc(tmp_path, aug="deeplab", val=[*VAL, AUG[0]])
    with pytest.raises(DatasetError, match=r"shares 1 ids with val\.txt \(e\.g\. 2008_000002\)"):
        VOC("train_aug", base, SIZE)
    assert any("shares 1 ids" in problem for problem in check_layout(base))


def test_missing_files_are_named(tmp_path):
    base, _ = write_voc(tmp_path)
    (base / "SegmentationClass" / "2007_000039.png").unlink()
    with pytest.raises(
        DatasetError, match=r"VOC2012/SegmentationClass/2007_000039\.png is missing.*datasets/voc/README"
    ):
        VOC("train", base, SIZE)
    (base / "JPEGImages" / "2007_000063.jpg").unlink()
    assert check_layout(base) == ["SegmentationClass/2007_000039.png", "JPEGImages/2007_000063.jpg"]
    with pytest.raises(DatasetError, match=r"VOC2012/SegmentationClassAug is missing \(and 1 more\)"):
        VOC("train_aug", base, SIZE)


def test_partial_aug_set_is_reported(tmp_path):
    base, _ = write_voc(tmp_path)
    (base / "SegmentationClassAug").mkdir()
    assert check_layout(base) == ["ImageSets/Segmentation/aug.txt"]


def test_colour_label_png_is_refused(tmp_path):
    base, _ = write_voc(tmp_path)
    Image.fromarray(np.zeros((*SIZE, 3), np.uint8)).save(base / "SegmentationClass" / "2007_000063.png")
    with pytest.raises(DatasetError, match=r"2007_000063\.png is a RGB image; labels must be palette or greyscale"):
        VOC("val", base, SIZE)[0]


def test_limit_subset_and_extract(tmp_path):
    base, _labels = write_voc(tmp_path, aug="mmseg")
    subset = open_dataset("voc", "train_aug", str(tmp_path), SIZE, limit=2, subset_seed=0)
    ids = [subset[i]["id"] for i in range(2)]
    assert ids == sorted(ids, key=(TRAIN + AUG).index) and set(ids) <= set(TRAIN + AUG)
    config = ExtractConfig(
        backbone="test-dinov2",
        random_init=True,
        dataset="voc",
        split="train_aug",
        root=str(tmp_path),
        image_size=(56, 56),
        batch_size=4,
        workers=0,
        limit=3,
    )
    out = extract(config, tmp_path / "voc.h5", progress=False)
    with h5py.File(out, "r") as f:
        masks = f["targets/mask"][()]  # (3, 56, 56)
        assert masks.shape == (3, 56, 56) and f["targets/mask"].attrs["num_classes"] == 21
        assert f.attrs["split"] == "train_aug" and f.attrs["limit"] == 3
    assert set(np.unique(masks)) <= set(range(21)) | {255}
    np.testing.assert_array_equal(masks[2], VOC("train_aug", base, (56, 56))[2]["mask"])
