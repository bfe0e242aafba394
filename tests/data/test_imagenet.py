"""ImageNet adapter on tiny official-layout trees: devkit and LOC csv labels, sorted val/, class order, errors."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from probekit.data import open_dataset
from probekit.data.imagenet import GROUND_TRUTH, LOC_SOLUTION, META, SYNSET_MAPPING, check_layout
from probekit.errors import DatasetError

# (ILSVRC2012_ID, wnid, words, num_children) in the devkit's ID order, which is not the sorted wnid order;
# the last is an inner synset (num_children > 0) that meta.mat lists too and that is no class.
SYNSETS = [
    (1, "n01484850", "great white shark, white shark", 0),
    (2, "n01440764", "tench, Tinca tinca", 0),
    (3, "n01443537", "goldfish, Carassius auratus", 0),
    (4, "n00004475", "organism, being", 2),
]
WNIDS = ["n01440764", "n01443537", "n01484850"]  # sorted: class 0, 1, 2
VAL_IDS = [1, 3, 2, 1]  # ILSVRC2012_ID of val images 1..4
VAL_WNIDS = ["n01484850", "n01443537", "n01440764", "n01484850"]
VAL_LABELS = [2, 1, 0, 2]  # sorted-wnid indices, not ILSVRC2012_ID - 1
VAL_NAMES = [f"val/ILSVRC2012_val_{k:08d}.JPEG" for k in range(1, 5)]


def _write_jpeg(path, seed: int, shape=(20, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), rgb)


def write_meta_mat(path, synsets=SYNSETS) -> None:
    """A devkit meta.mat: a 'synsets' struct array with the fields the adapter reads (and gloss)."""
    from scipy.io import savemat

    fields = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("gloss", "O"), ("num_children", "O")]
    table = np.empty((len(synsets), 1), dtype=fields)  # MATLAB's 1860x1 struct, here 4x1
    for row, (ident, wnid, words, children) in enumerate(synsets):
        table[row, 0] = (np.uint16(ident), wnid, words, "a gloss", np.uint16(children))
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), {"synsets": table})


def write_imagenet(root, labels: str = "devkit") -> dict[str, int]:
    """train/<wnid>/ (2 images each) and 4 val images labelled by `labels`: devkit, loc or sorted.
    Returns sample id -> expected class index, over both splits."""
    expected = {}
    for k, wnid in enumerate(WNIDS):
        for j in (1, 2):
            name = f"train/{wnid}/{wnid}_{j}.JPEG"
            _write_jpeg(root / name, seed=10 * k + j)
            expected[name] = k
    for k, (name, wnid, label) in enumerate(zip(VAL_NAMES, VAL_WNIDS, VAL_LABELS, strict=True)):
        if labels == "sorted":
            name = f"val/{wnid}/{name.removeprefix('val/')}"
        _write_jpeg(root / name, seed=100 + k)
        expected[name] = label
    if labels == "devkit":
        write_meta_mat(root / META)
        (root / GROUND_TRUTH).write_text("".join(f"{ident}\n" for ident in VAL_IDS))
    elif labels == "loc":
        rows = [f"ILSVRC2012_val_{k:08d},{wnid} 1 2 30 20 {wnid} 3 4 10 10\n" for k, wnid in enumerate(VAL_WNIDS, 1)]
        (root / LOC_SOLUTION).write_text("ImageId,PredictionString\n" + "".join(rows[::-1]))  # csv order is not sorted
        (root / SYNSET_MAPPING).write_text("".join(f"{w} {words}\n" for _, w, words, c in SYNSETS if c == 0))
    return expected


def _labels(dataset) -> dict[str, int]:
    return {dataset[i]["id"]: int(dataset[i]["label"]) for i in range(len(dataset))}


@pytest.mark.parametrize("labels", ["devkit", "loc", "sorted"])
def test_val_labels_are_sorted_wnid_indices(tmp_path, labels):
    expected = write_imagenet(tmp_path, labels)
    val = open_dataset("imagenet", "val", str(tmp_path), image_size=(14, 14))
    assert _labels(val) == {name: k for name, k in expected.items() if name.startswith("val/")}
    assert len(val) == 4 and val.targets["label"].attrs["num_classes"] == 3
    train = open_dataset("imagenet", "train", str(tmp_path), image_size=(14, 14))
    assert _labels(train) == {name: k for name, k in expected.items() if name.startswith("train/")}


@pytest.mark.parametrize(
    "labels, names",
    [
        ("devkit", ["tench, Tinca tinca", "goldfish, Carassius auratus", "great white shark, white shark"]),
        ("loc", ["tench, Tinca tinca", "goldfish, Carassius auratus", "great white shark, white shark"]),
        ("sorted", WNIDS),  # no synset list in the tree: the wnids name the classes
    ],
)
def test_class_names_follow_the_sorted_wnids(tmp_path, labels, names):
    write_imagenet(tmp_path, labels)
    val = open_dataset("imagenet", "val", str(tmp_path), image_size=(14, 14))
    assert val.targets["label"].attrs["class_names"] == names


def test_val_order_is_by_image_id_and_the_fit_is_resize_256_crop_224(tmp_path):
    write_imagenet(tmp_path, "loc")
    val = open_dataset("imagenet", "val", str(tmp_path), image_size=(14, 14))
    assert [val[i]["id"] for i in range(4)] == VAL_NAMES
    assert val.describe()["crop_fraction"] == 0.875
    # 20x30 JPEG, 14x14 size: the centred 0.875 x 20 = 18 px square window (rows 1:19, cols 6:24), resized
    original = cv2.cvtColor(cv2.imread(str(tmp_path / VAL_NAMES[0])), cv2.COLOR_BGR2RGB)
    window = np.ascontiguousarray(original[1:19, 6:24])
    np.testing.assert_array_equal(val[0]["image"], cv2.resize(window, (14, 14), interpolation=cv2.INTER_AREA))


def test_without_train_the_synset_list_gives_the_classes(tmp_path):
    write_imagenet(tmp_path, "loc")
    shutil.rmtree(tmp_path / "train")
    val = open_dataset("imagenet", "val", str(tmp_path), image_size=(14, 14))
    assert [int(val[i]["label"]) for i in range(4)] == VAL_LABELS


def _fails(root, split: str, pattern: str) -> None:
    with pytest.raises(DatasetError, match=pattern) as caught:
        open_dataset("imagenet", split, str(root), image_size=(14, 14))
    assert "\n" not in str(caught.value)


def test_missing_labels_name_both_sources(tmp_path):
    write_imagenet(tmp_path, "none")
    _fails(tmp_path, "val", r"val is flat but neither .*ILSVRC2012_validation_ground_truth.txt nor .*LOC_val_solution")
    assert check_layout(tmp_path) == [f"{GROUND_TRUTH} (or {LOC_SOLUTION}) labelling the flat val/"]


def test_ground_truth_without_meta_mat(tmp_path):
    write_imagenet(tmp_path, "devkit")
    (tmp_path / META).unlink()
    _fails(tmp_path, "val", r"meta.mat is missing; it maps")
    assert check_layout(tmp_path) == [META]


def test_missing_val_image_is_named(tmp_path):
    write_imagenet(tmp_path, "devkit")
    (tmp_path / VAL_NAMES[2]).unlink()
    _fails(tmp_path, "val", r"ILSVRC2012_val_00000003.JPEG is missing, listed by .*ground_truth.txt")


def test_csv_wnid_not_among_train_classes(tmp_path):
    write_imagenet(tmp_path, "loc")
    shutil.rmtree(tmp_path / "train" / "n01484850")
    _fails(tmp_path, "val", r"LOC_val_solution.csv:\d+: 'n01484850' is not a class of train/")


@pytest.mark.parametrize(
    "content, pattern",
    [
        ("1\n7\n2\n1\n", r"ground_truth.txt:2: '7' is not an ILSVRC2012_ID"),  # 7: no leaf synset (4 is inner)
        ("1\n4\n2\n1\n", r"ground_truth.txt:2: '4' is not an ILSVRC2012_ID"),
        ("1\nfish\n", r"ground_truth.txt:2: 'fish'"),
        ("", r"ground_truth.txt: empty"),
    ],
)
def test_bad_ground_truth_lines(tmp_path, content, pattern):
    write_imagenet(tmp_path, "devkit")
    (tmp_path / GROUND_TRUTH).write_text(content)
    _fails(tmp_path, "val", pattern)


@pytest.mark.parametrize(
    "content, pattern",
    [
        ("ImageId,PredictionString\nILSVRC2012_val_00000001,\n", r"LOC_val_solution.csv:2: expected 'ImageId,Predict"),
        ("ILSVRC2012_val_00000001,n01440764 1 2 3 4\nILSVRC2012_val_00000001,n01440764\n", r"csv:2: .* listed twice"),
        (
            "../train/n01440764/n01440764_1,n01440764 1\n",
            r"csv:1: path '../train/n01440764/n01440764_1.JPEG' is outside",
        ),
        ("ImageId,PredictionString\n", r"found no rows in .*LOC_val_solution.csv"),
    ],
)
def test_bad_loc_csv_rows(tmp_path, content, pattern):
    write_imagenet(tmp_path, "loc")
    (tmp_path / LOC_SOLUTION).write_text(content)
    _fails(tmp_path, "val", pattern)


@pytest.mark.parametrize("content", [b"short", b"not a mat file" * 20, "struct"])
def test_bad_meta_mat_is_named(tmp_path, content):
    write_imagenet(tmp_path, "devkit")
    if content == "struct":  # a .mat without the 'synsets' struct
        from scipy.io import savemat

        savemat(str(tmp_path / META), {"other": np.zeros(3)})
    else:
        (tmp_path / META).write_bytes(content)
    _fails(tmp_path, "val", r"cannot read .*meta.mat")


def test_folders_that_are_not_wnids(tmp_path):
    write_imagenet(tmp_path, "sorted")
    (tmp_path / "train/train").mkdir()  # a nested split folder from a careless unpack
    _fails(tmp_path, "train", r"train/train is not a WordNet id folder")
    (tmp_path / "train/train").rmdir()
    _write_jpeg(tmp_path / "val/ILSVRC2012_val_00000009.JPEG", seed=9)
    _fails(tmp_path, "val", r"ILSVRC2012_val_00000009.JPEG lies beside the wnid folders")


def test_empty_class_folder_in_train(tmp_path):
    write_imagenet(tmp_path, "sorted")
    for image in (tmp_path / "train/n01443537").iterdir():
        image.unlink()
    _fails(tmp_path, "train", r"train/n01443537 holds no images; untar n01443537.tar")


def test_missing_split_and_layout_check(tmp_path):
    write_imagenet(tmp_path, "devkit")
    assert check_layout(tmp_path) == []
    shutil.rmtree(tmp_path / "val")
    _fails(tmp_path, "val", r"val is missing .*docs/datasets/imagenet.md")
    assert check_layout(tmp_path) == ["val"]


def test_kaggle_download_as_unpacked(tmp_path):
    """Kaggle's images sit in ILSVRC/Data/CLS-LOC/{train,val}, the LOC files two levels above: --root is the top."""
    images = tmp_path / "ILSVRC/Data/CLS-LOC"
    expected = write_imagenet(images, "loc")
    for name in (LOC_SOLUTION, SYNSET_MAPPING):
        (images / name).rename(tmp_path / name)
    val = open_dataset("imagenet", "val", str(tmp_path), image_size=(14, 14))
    assert _labels(val) == {name: k for name, k in expected.items() if name.startswith("val/")}
    assert check_layout(tmp_path) == []
    shutil.rmtree(images / "val")
    assert check_layout(tmp_path) == ["ILSVRC/Data/CLS-LOC/val"]


def test_datasets_command_checks_the_tree(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from probekit.cli import app
    from probekit.data.completeness import OFFICIAL, Official

    write_imagenet(tmp_path, "devkit")
    monkeypatch.setitem(OFFICIAL, "imagenet", {"train": Official(6, "fixture"), "val": Official(4, "fixture")})
    result = CliRunner().invoke(app, ["datasets", "imagenet", "--root", str(tmp_path)])
    assert result.exit_code == 0 and "is complete" in result.output and "val: 4 of 4 images" in result.output
    (tmp_path / GROUND_TRUTH).unlink()
    result = CliRunner().invoke(app, ["datasets", "imagenet", "--root", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"  - {GROUND_TRUTH} (or {LOC_SOLUTION}) labelling the flat val/" in result.output
    assert "val: not readable: imagenet:" in result.output and "train: 6 of 6 images" in result.output
