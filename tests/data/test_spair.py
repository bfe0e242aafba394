"""SPair-71k adapter: a tiny tree in the official format, read back exactly (pairs, images, pixel maps, errors)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from probekit.data import open_dataset
from probekit.data.geometry import PixelMap
from probekit.data.spair import SPair71k, check_layout
from probekit.errors import DatasetError
from probekit.features.extract import ExtractConfig, extract
from probekit.features.store import FeatureStore

# (category, image): (width, height) and the pixel (x, y) painted white (the first source keypoint)
IMAGES = {
    ("aeroplane", "2008_000585"): (40, 30),
    ("aeroplane", "2008_002221"): (36, 48),
    ("aeroplane", "2009_004203"): (44, 26),
    ("bicycle", "2007_005262"): (30, 40),
    ("bicycle", "2008_000725"): (50, 34),
}
PAINTED = {("aeroplane", "2008_000585"): (31, 7), ("bicycle", "2007_005262"): (4, 33)}
PAIRS = {  # split -> pair name -> annotation fields that vary
    "test": {
        "000001-2008_000585-2008_002221:aeroplane": dict(
            src_kps=[[31, 7], [10, 20], [5, 25]],
            trg_kps=[[30, 40], [12, 9], [3, 2]],
            kps_ids=["0", "3", "7"],
            src_bndbox=[2, 3, 38, 28],
            trg_bndbox=[1, 2, 35, 47],
            viewpoint_variation=1,
            truncation=2,
        ),
        "000002-2008_002221-2009_004203:aeroplane": dict(
            src_kps=[[20, 33]],
            trg_kps=[[41, 5]],
            kps_ids=["11"],
            src_bndbox=[1, 2, 35, 47],
            trg_bndbox=[0, 0, 43, 25],
            viewpoint_variation=2,
            truncation=0,
        ),
        "000003-2007_005262-2008_000725:bicycle": dict(
            src_kps=[[4, 33], [25, 1]],
            trg_kps=[[49, 30], [0, 0]],
            kps_ids=["2", "5"],
            src_bndbox=[0, 1, 29, 39],
            trg_bndbox=[3, 4, 48, 33],
            viewpoint_variation=0,
            truncation=1,
        ),
        # in the JSON folder but not in the official list: used only when Layout/ is absent
        "000004-2009_004203-2008_000585:aeroplane": dict(
            src_kps=[[1, 1]],
            trg_kps=[[2, 2]],
            kps_ids=["1"],
            src_bndbox=[0, 0, 43, 25],
            trg_bndbox=[2, 3, 38, 28],
            viewpoint_variation=0,
            truncation=0,
        ),
    },
    "trn": {
        "000005-2008_000725-2007_005262:bicycle": dict(
            src_kps=[[8, 8]],
            trg_kps=[[9, 9]],
            kps_ids=["0"],
            src_bndbox=[3, 4, 48, 33],
            trg_bndbox=[0, 1, 29, 39],
            viewpoint_variation=0,
            truncation=0,
        ),
    },
    "val": {},
}
LAYOUT_TEST = [
    "000003-2007_005262-2008_000725:bicycle",
    "000001-2008_000585-2008_002221:aeroplane",
    "000002-2008_002221-2009_004203:aeroplane",
]  # the official list's order is kept


def write_jpeg(path: Path, size_wh: tuple[int, int], painted: tuple[int, int] | None = None) -> None:
    w, h = size_wh
    image = np.full((h, w, 3), 40, dtype=np.uint8)
    if painted is not None:
        image[painted[1], painted[0]] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 100])


def make_spair(root: Path, layout: bool = True) -> Path:
    """A miniature SPair-71k tree: JPEGImages/<category>/, PairAnnotation/<split>/*.json, Layout/large/."""
    for (category, name), size in IMAGES.items():
        write_jpeg(root / "JPEGImages" / category / f"{name}.jpg", size, PAINTED.get((category, name)))
    for split, pairs in PAIRS.items():
        (root / "PairAnnotation" / split).mkdir(parents=True, exist_ok=True)
        for number, (pair, fields) in enumerate(pairs.items(), 1):
            _, src, rest = pair.split("-")
            trg, category = rest.split(":")
            annotation = {
                "pair_id": number,
                "filename": pair,
                "category": category,
                "src_imname": f"{src}.jpg",
                "trg_imname": f"{trg}.jpg",
                "src_imsize": [*IMAGES[(category, src)], 3],
                "trg_imsize": [*IMAGES[(category, trg)], 3],
                "scale_variation": 0,
                "occlusion": 0,
                "mirror": 0,
                **fields,
            }
            (root / "PairAnnotation" / split / f"{pair}.json").write_text(json.dumps(annotation))
    if layout:
        (root / "Layout" / "large").mkdir(parents=True)
        (root / "Layout" / "large" / "test.txt").write_text("\n".join(LAYOUT_TEST) + "\n")
        (root / "Layout" / "large" / "trn.txt").write_text("\n".join(PAIRS["trn"]) + "\n")
        (root / "Layout" / "large" / "val.txt").write_text("")
    return root


@pytest.fixture
def root(tmp_path) -> Path:
    return make_spair(tmp_path / "SPair-71k")


def test_pair_table_is_exactly_the_json_annotations(root):
    dataset = SPair71k(root, "test", (56, 56))
    table = dataset.pair_table
    assert dataset.images == [
        "aeroplane/2008_000585.jpg",
        "aeroplane/2008_002221.jpg",
        "aeroplane/2009_004203.jpg",
        "bicycle/2007_005262.jpg",
        "bicycle/2008_000725.jpg",
    ]
    assert list(table.ids) == LAYOUT_TEST and table.pck_reference == "bbox"
    assert list(table.categories) == ["bicycle", "aeroplane", "aeroplane"]
    np.testing.assert_array_equal(table.src, [3, 0, 1])  # 2008_002221 is target of one pair, source of the next
    np.testing.assert_array_equal(table.trg, [4, 1, 2])
    assert table.src_kps.shape == (3, 3, 2)
    for row, name in enumerate(LAYOUT_TEST):
        fields = PAIRS["test"][name]
        k = len(fields["src_kps"])
        np.testing.assert_array_equal(table.src_kps[row, :k], fields["src_kps"])  # [x, y] order kept
        np.testing.assert_array_equal(table.trg_kps[row, :k], fields["trg_kps"])
        assert np.isnan(table.src_kps[row, k:]).all() and np.isnan(table.trg_kps[row, k:]).all()
        np.testing.assert_array_equal(table.src_bbox[row], fields["src_bndbox"])
        np.testing.assert_array_equal(table.trg_bbox[row], fields["trg_bndbox"])
    assert table.valid.sum(1).tolist() == [2, 3, 1]
    annotations = table.attrs["pair_annotations"]
    assert annotations["ids"] == LAYOUT_TEST
    assert annotations["viewpoint_variation"] == [0, 1, 2] and annotations["truncation"] == [1, 2, 0]
    assert annotations["kps_ids"] == [["2", "5"], ["0", "3", "7"], ["11"]]
    assert table.attrs["pair_list"] == "Layout/large/test.txt"


def test_without_layout_every_json_of_the_split_folder_in_name_order(tmp_path):
    root = make_spair(tmp_path / "spair", layout=False)
    table = SPair71k(root, "test", (28, 28)).pair_table
    assert list(table.ids) == sorted(PAIRS["test"]) and table.attrs["pair_list"] == "PairAnnotation/test/*.json"


def test_train_is_trn_and_splits_stay_apart(root):
    train = open_dataset("spair", "train", str(root), (28, 28))
    assert train.split == "trn" and list(train.pair_table.ids) == list(PAIRS["trn"])
    assert train.images == ["bicycle/2007_005262.jpg", "bicycle/2008_000725.jpg"]


def test_root_may_be_the_folder_the_archive_was_unpacked_into(root):
    assert SPair71k(root.parent, "test", (28, 28)).root == root


@pytest.mark.parametrize("fit", ["stretch", "pad"])
def test_a_keypoint_maps_onto_its_painted_pixel(root, fit):
    dataset = SPair71k(root, "test", (56, 70), fit=fit)
    table = dataset.pair_table
    for row in range(len(table)):
        key = tuple(dataset.images[table.src[row]].removesuffix(".jpg").split("/"))
        if key not in PAINTED:
            continue
        sample = dataset[int(table.src[row])]
        assert sample["image"].shape == (56, 70, 3)
        np.testing.assert_array_equal(sample["original_size"], IMAGES[key][::-1])
        x, y = PixelMap.from_array(sample["pixel_map"]).to_stored(table.src_kps[row, 0])
        found_y, found_x = np.unravel_index(sample["image"][..., 0].argmax(), (56, 70))
        assert abs(found_x - x) <= 1.5 and abs(found_y - y) <= 1.5, (key, fit, (x, y), (found_x, found_y))


def test_stretch_and_pad_maps(root):
    w, h = IMAGES[("aeroplane", "2008_000585")]
    stretched = PixelMap.from_array(SPair71k(root, "test", (56, 56))[0]["pixel_map"])
    assert stretched == PixelMap(np.float32(56 / w), np.float32(56 / h), 0.0, 0.0)
    padded = PixelMap.from_array(SPair71k(root, "test", (56, 56), fit="pad")[0]["pixel_map"])
    assert padded.sx == padded.sy == pytest.approx(56 / w) and padded.ox == 0 and padded.oy == (56 - 42) // 2


def test_crop_is_refused(root):
    with pytest.raises(DatasetError, match="crop would cut keypoints"):
        SPair71k(root, "test", (56, 56), fit="crop")


def test_limit_keeps_whole_pairs_and_their_images(root):
    full = SPair71k(root, "test", (28, 28)).pair_table
    first = open_dataset("spair", "test", str(root), (28, 28), limit=2)
    table = first.pair_table
    assert len(table) == 2 and list(table.ids) == LAYOUT_TEST[:2]
    np.testing.assert_array_equal(first.indices, [0, 1, 3, 4])
    np.testing.assert_array_equal(table.src, [2, 0]) and np.testing.assert_array_equal(table.trg, [3, 1])
    np.testing.assert_array_equal(table.src_kps, full.src_kps[:2])
    assert [first[i]["id"] for i in range(len(first))] == [
        "aeroplane/2008_000585",
        "aeroplane/2008_002221",
        "bicycle/2007_005262",
        "bicycle/2008_000725",
    ]
    assert first.describe()["limit_unit"] == "pairs"
    seeded = open_dataset("spair", "test", str(root), (28, 28), limit=1, subset_seed=3)
    assert len(seeded.pair_table) == 1 and len(seeded) == 2


def test_check_layout_names_what_is_missing(root):
    assert check_layout(root) == [] and check_layout(root.parent) == []
    shutil.rmtree(root / "PairAnnotation" / "val")
    assert check_layout(root) == ["PairAnnotation/val"]
    assert check_layout(root / "nowhere") == [str(root / "nowhere")]


def test_missing_tree_entries_are_one_line_errors(root, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty/JPEGImages is missing.*datasets/spair/README.md"):
        SPair71k(tmp_path / "empty", "test", (28, 28))
    with pytest.raises(DatasetError, match="pass --root"):
        open_dataset("spair", "test", None, (28, 28))
    (root / "JPEGImages" / "aeroplane" / "2009_004203.jpg").unlink()
    with pytest.raises(DatasetError, match=r"image .*aeroplane/2009_004203.jpg used by the test pairs is missing"):
        SPair71k(root, "test", (28, 28))
    (root / "PairAnnotation" / "test" / f"{LAYOUT_TEST[0]}.json").unlink()
    with pytest.raises(DatasetError, match=r"pair annotation .*000003-2007_005262-2008_000725:bicycle.json is missing"):
        SPair71k(root, "test", (28, 28))
    with pytest.raises(DatasetError, match=r"Layout/large/val.txt lists no pairs"):
        SPair71k(root, "val", (28, 28))


def test_bad_annotations_are_named(root):
    path = root / "PairAnnotation" / "test" / f"{LAYOUT_TEST[1]}.json"
    annotation = json.loads(path.read_text())
    path.write_text(json.dumps({**annotation, "trg_kps": annotation["trg_kps"][:2]}))
    with pytest.raises(DatasetError, match=r"2008_002221:aeroplane.json has 3 source and 2 target keypoints"):
        SPair71k(root, "test", (28, 28))
    path.write_text(json.dumps({**annotation, "trg_bndbox": [1, 2, 35]}))
    with pytest.raises(DatasetError, match=r"aeroplane.json has a box that is not \[x1, y1, x2, y2\]"):
        SPair71k(root, "test", (28, 28))
    del annotation["src_bndbox"]
    path.write_text(json.dumps(annotation))
    with pytest.raises(DatasetError, match=r"aeroplane.json has no src_bndbox"):
        SPair71k(root, "test", (28, 28))


def test_an_image_whose_size_disagrees_with_its_annotation_is_refused(root):
    write_jpeg(root / "JPEGImages" / "aeroplane" / "2008_000585.jpg", (41, 30))
    dataset = SPair71k(root, "test", (28, 28))
    with pytest.raises(DatasetError, match=r"2008_000585.jpg is 41x30 but its pairs say 40x30"):
        dataset[0]


def test_extract_stores_the_table(root, tmp_path):
    config = ExtractConfig(
        backbone="test-dinov2",
        random_init=True,
        dataset="spair",
        split="test",
        root=str(root),
        image_size=(56, 56),
        workers=0,
        batch_size=8,
    )
    path = extract(config, tmp_path / "spair.h5", progress=False)
    expected = SPair71k(root, "test", (56, 56))
    with FeatureStore(path) as store:
        table = store.read_pairs()
        assert store.ids == [Path(i).with_suffix("").as_posix() for i in expected.images]
        for name in ("src", "trg", "src_kps", "trg_kps", "src_bbox", "trg_bbox"):
            np.testing.assert_array_equal(getattr(table, name), getattr(expected.pair_table, name))
        assert list(table.ids) == list(expected.pair_table.ids) and list(table.categories) == list(
            expected.pair_table.categories
        )
        assert table.pck_reference == "bbox" and table.attrs == expected.pair_table.attrs
        np.testing.assert_array_equal(store.read_target("pixel_map")[0], expected[0]["pixel_map"])
