"""PF-PASCAL adapter: the weakalign/GeoAware-SC, NCNet and DHPF/CATs layouts, read back exactly."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.io import savemat

from probekit.data import open_dataset
from probekit.data.geometry import PixelMap
from probekit.data.pfpascal import PFPascal, check_layout
from probekit.errors import DatasetError
from probekit.features.extract import ExtractConfig, extract
from probekit.features.store import FeatureStore

NAN = float("nan")
# image: (width, height), class (1-based), the keypoint slots of its Annotations .mat (NaN = not visible), bbox
IMAGES = {
    "2011_001407": ((40, 30), 1, [[31.25, 7.5], [10.0, 20.0], [NAN, NAN], [5.5, 25.0]], [2, 3, 38, 28]),
    "2010_004184": ((36, 48), 1, [[30.0, 40.5], [NAN, NAN], [12.0, 9.0], [3.0, 2.0]], [1, 2, 35, 47]),
    "2007_000584": ((30, 40), 2, [[4.5, 33.5], [25.0, 1.0], [7.0, 7.0]], [0, 1, 29, 39]),
    "2010_003379": ((50, 34), 2, [[49.0, 30.0], [0.5, 0.5], [NAN, NAN]], [3, 4, 48, 33]),
}
PAINTED = {"2011_001407": (31, 7), "2007_000584": (4, 33)}  # white pixel at the first keypoint
TEST_PAIRS = [  # source, target, XA..YB keypoints as the CSV gives them (pair-specific, not the .mat slots)
    ("2011_001407", "2010_004184", [[31.25, 7.5], [10.0, 20.0], [5.5, 25.0]], [[30.0, 40.5], [12.0, 9.0], [3.0, 2.0]]),
    ("2007_000584", "2010_003379", [[4.5, 33.5]], [[49.0, 30.0]]),
    ("2010_004184", "2011_001407", [[30.0, 40.5], [3.0, 2.0]], [[31.25, 7.5], [5.5, 25.0]]),
]
TRAIN_PAIRS = [("2011_001407", "2010_004184", 0), ("2011_001407", "2010_004184", 1), ("2010_003379", "2007_000584", 1)]


def write_images(folder: Path) -> None:
    for name, ((w, h), _, _, _) in IMAGES.items():
        image = np.full((h, w, 3), 40, dtype=np.uint8)
        if name in PAINTED:
            x, y = PAINTED[name]
            image[y, x] = 255
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 100])


def write_annotations(folder: Path) -> None:
    classes = {1: "aeroplane", 2: "bicycle"}
    for name, (_, label, kps, bbox) in IMAGES.items():
        (folder / classes[label]).mkdir(parents=True, exist_ok=True)
        savemat(
            folder / classes[label] / f"{name}.mat",
            {"kps": np.array(kps, dtype=np.float64), "bbox": np.array([bbox], dtype=np.float64)},
        )


def joined(values) -> str:
    return ";".join(repr(float(v)) for v in values)


def write_test_csv(path: Path, prefix: str = "PF-dataset-PASCAL/JPEGImages/") -> None:
    """weakalign's format: source_image,target_image,class,XA,YA,XB,YB with ';'-separated coordinates."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["source_image", "target_image", "class", "XA", "YA", "XB", "YB"])
        for src, trg, a, b in TEST_PAIRS:
            a, b = np.array(a), np.array(b)
            writer.writerow(
                [
                    f"{prefix}{src}.jpg",
                    f"{prefix}{trg}.jpg",
                    IMAGES[src][1],
                    joined(a[:, 0]),
                    joined(a[:, 1]),
                    joined(b[:, 0]),
                    joined(b[:, 1]),
                ]
            )


def write_flip_csv(path: Path, prefix: str) -> None:
    """NCNet's / DHPF's training format: source_image,target_image,class,flip (keypoints in the .mat files)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["source_image", "target_image", "class", "flip"])
        for src, trg, flip in TRAIN_PAIRS:
            writer.writerow([f"{prefix}{src}.jpg", f"{prefix}{trg}.jpg", IMAGES[src][1], flip])


@pytest.fixture
def root(tmp_path) -> Path:
    """GeoAware-SC's tree: PF-dataset-PASCAL/{JPEGImages, Annotations, test_pairs_pf_pascal.csv}."""
    base = tmp_path / "pf-pascal" / "PF-dataset-PASCAL"
    write_images(base / "JPEGImages")
    write_annotations(base / "Annotations")
    write_test_csv(base / "test_pairs_pf_pascal.csv")
    return tmp_path / "pf-pascal"


def test_pair_table_is_exactly_the_csv(root):
    dataset = PFPascal(root, "test", (56, 56))
    table = dataset.pair_table
    assert dataset.images == ["2007_000584.jpg", "2010_003379.jpg", "2010_004184.jpg", "2011_001407.jpg"]
    assert list(table.ids) == [
        "0000-2011_001407-2010_004184:aeroplane",
        "0001-2007_000584-2010_003379:bicycle",
        "0002-2010_004184-2011_001407:aeroplane",
    ]
    assert list(table.categories) == ["aeroplane", "bicycle", "aeroplane"] and table.pck_reference == "image"
    np.testing.assert_array_equal(table.src, [3, 0, 2])
    np.testing.assert_array_equal(table.trg, [2, 1, 3])
    assert table.src_kps.shape == (3, 3, 2)
    for row, (src, trg, a, b) in enumerate(TEST_PAIRS):
        np.testing.assert_array_equal(table.src_kps[row, : len(a)], np.float32(a))  # XA -> x, YA -> y
        np.testing.assert_array_equal(table.trg_kps[row, : len(b)], np.float32(b))
        assert np.isnan(table.src_kps[row, len(a) :]).all()
        np.testing.assert_array_equal(table.src_bbox[row], IMAGES[src][3])  # from the .mat, not the keypoints
        np.testing.assert_array_equal(table.trg_bbox[row], IMAGES[trg][3])
    assert table.attrs["pair_list"] == "PF-dataset-PASCAL/test_pairs_pf_pascal.csv"


def test_without_annotations_the_boxes_are_unknown(root):
    shutil.rmtree(root / "PF-dataset-PASCAL" / "Annotations")
    table = PFPascal(root / "PF-dataset-PASCAL", "test", (28, 28)).pair_table  # root may be the inner folder too
    assert np.isnan(table.src_bbox).all() and np.isnan(table.trg_bbox).all()
    assert table.attrs["bbox"].startswith("unknown")


def test_ncnet_layout_reads_keypoints_from_the_annotations(root):
    (root / "image_pairs").mkdir()
    write_flip_csv(root / "image_pairs" / "train_pairs.csv", "PF-dataset-PASCAL/JPEGImages/")
    table = PFPascal(root, "train", (28, 28)).pair_table
    assert table.attrs["pair_list"] == "image_pairs/train_pairs.csv"
    assert table.attrs["pair_annotations"] == {"ids": list(table.ids), "flip": [0, 1, 1]}
    # slots visible in both images only, in slot order (slot 1 and 2 are missing in one image each)
    np.testing.assert_array_equal(table.src_kps[0, :2], [[31.25, 7.5], [5.5, 25.0]])
    np.testing.assert_array_equal(table.trg_kps[0, :2], [[30.0, 40.5], [3.0, 2.0]])
    np.testing.assert_array_equal(table.src_kps[2], [[49.0, 30.0], [0.5, 0.5]])
    np.testing.assert_array_equal(table.trg_kps[2], [[4.5, 33.5], [25.0, 1.0]])
    assert np.isnan(table.src_kps[2:, 2:]).all() and table.src_kps.shape == (3, 2, 2)
    assert table.ids[0] != table.ids[1]  # NCNet lists a pair twice (flip 0 and 1): rows stay distinct


def test_dhpf_layout_and_trn_alias(tmp_path):
    base = tmp_path / "PF-PASCAL"
    write_images(base / "JPEGImages")
    write_annotations(base / "Annotations")
    write_flip_csv(base / "trn_pairs.csv", "JPEGImages/")
    dataset = open_dataset("pfpascal", "trn", str(tmp_path), (28, 28))
    assert (
        dataset.split == "train"
        and len(dataset.pair_table) == 3
        and dataset.pair_table.attrs["pair_list"] == "PF-PASCAL/trn_pairs.csv"
    )


@pytest.mark.parametrize("fit", ["stretch", "pad"])
def test_a_keypoint_maps_onto_its_painted_pixel(root, fit):
    dataset = PFPascal(root, "test", (56, 70), fit=fit)
    table = dataset.pair_table
    for row in (0, 1):
        name = dataset.images[table.src[row]].removesuffix(".jpg")
        sample = dataset[int(table.src[row])]
        np.testing.assert_array_equal(sample["original_size"], IMAGES[name][0][::-1])
        x, y = PixelMap.from_array(sample["pixel_map"]).to_stored(table.src_kps[row, 0])
        found_y, found_x = np.unravel_index(sample["image"][..., 0].argmax(), (56, 70))
        assert abs(found_x - x) <= 1.5 and abs(found_y - y) <= 1.5, (name, fit, (x, y), (found_x, found_y))


def test_limit_keeps_whole_pairs(root):
    subset = open_dataset("pfpascal", "test", str(root), (28, 28), limit=1)
    assert len(subset.pair_table) == 1 and len(subset) == 2
    np.testing.assert_array_equal(subset.indices, [2, 3])
    np.testing.assert_array_equal(subset.pair_table.src, [1]) and np.testing.assert_array_equal(
        subset.pair_table.trg, [0]
    )


def test_check_layout(root, tmp_path):
    problems = check_layout(root)  # only the test list exists
    assert len(problems) == 2 and "image_pairs/train_pairs.csv" in problems[0] and "val_pairs_pf_pascal" in problems[1]
    for split in ("train", "val"):
        write_test_csv(root / "PF-dataset-PASCAL" / f"{split}_pairs_pf_pascal.csv")
    assert check_layout(root) == []
    assert check_layout(tmp_path) == ["PF-dataset-PASCAL/JPEGImages"]


def test_missing_and_malformed_inputs_are_one_line_errors(root, tmp_path):
    with pytest.raises(DatasetError, match=r"PF-dataset-PASCAL/JPEGImages is missing.*datasets/pfpascal/README.md"):
        PFPascal(tmp_path, "test", (28, 28))
    with pytest.raises(DatasetError, match=r"no pair list for split 'val'.*val_pairs_pf_pascal.csv"):
        PFPascal(root, "val", (28, 28))
    (root / "PF-dataset-PASCAL" / "Annotations" / "bicycle" / "2010_003379.mat").unlink()
    with pytest.raises(DatasetError, match=r"annotation .*bicycle/2010_003379.mat is missing"):
        PFPascal(root, "test", (28, 28))
    shutil.rmtree(root / "PF-dataset-PASCAL" / "Annotations")
    (root / "PF-dataset-PASCAL" / "JPEGImages" / "2010_003379.jpg").unlink()
    with pytest.raises(DatasetError, match=r"image .*2010_003379.jpg listed in .*test_pairs_pf_pascal.csv is missing"):
        PFPascal(root, "test", (28, 28))


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("class", "21", "line 3: class '21' is not 1..20"),
        ("class", "0", "line 3: class '0' is not 1..20"),
        ("YB", "30.0;1.0", "line 3: XA, YA, XB, YB have 1, 1, 1, 2 values"),
        ("XA", "4.5;x", "line 3: column XA is not ';'-separated numbers"),
    ],
)
def test_bad_rows_are_named(root, column, value, message):
    path = root / "PF-dataset-PASCAL" / "test_pairs_pf_pascal.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    rows[1][column] = value
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(DatasetError, match=message):
        PFPascal(root, "test", (28, 28))


def test_a_list_without_keypoints_needs_the_annotations(root):
    shutil.rmtree(root / "PF-dataset-PASCAL" / "Annotations")
    write_flip_csv(root / "PF-dataset-PASCAL" / "val_pairs_pf_pascal.csv", "PF-dataset-PASCAL/JPEGImages/")
    with pytest.raises(DatasetError, match=r"has no XA,YA,XB,YB columns and .*Annotations is missing"):
        PFPascal(root, "val", (28, 28))


def test_extract_stores_the_table(root, tmp_path):
    config = ExtractConfig(
        backbone="test-dinov2",
        random_init=True,
        dataset="pfpascal",
        split="test",
        root=str(root),
        image_size=(56, 56),
        workers=0,
        batch_size=8,
    )
    path = extract(config, tmp_path / "pf.h5", progress=False)
    expected = PFPascal(root, "test", (56, 56))
    with FeatureStore(path) as store:
        table = store.read_pairs()
        assert store.ids == [Path(i).stem for i in expected.images]
        for name in ("src", "trg", "src_kps", "trg_kps", "src_bbox", "trg_bbox"):
            np.testing.assert_array_equal(getattr(table, name), getattr(expected.pair_table, name))
        assert list(table.ids) == list(expected.pair_table.ids) and list(table.categories) == list(
            expected.pair_table.categories
        )
        assert table.pck_reference == "image" and table.attrs == expected.pair_table.attrs
        np.testing.assert_array_equal(store.read_target("original_size"), [[40, 30], [34, 50], [48, 36], [30, 40]])
