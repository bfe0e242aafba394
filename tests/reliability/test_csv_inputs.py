"""CSV classification lists: integer labels are bounded class indices, and every encoding either
reads correctly or fails as one line naming the file (and line)."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from probekit.data import open_dataset
from probekit.errors import DatasetError


def _root(tmp_path, content: bytes | str, val: str | None = None):
    image = tmp_path / "train/cat/a.png"
    image.parent.mkdir(parents=True)
    assert cv2.imwrite(str(image), np.full((8, 12, 3), 90, np.uint8))
    data = content.encode() if isinstance(content, str) else content
    (tmp_path / "train.csv").write_bytes(data)
    if val is not None:
        (tmp_path / "val.csv").write_text(val)
    return tmp_path


def _open(root, split: str = "train"):
    return open_dataset("csv", split, str(root), image_size=(8, 8))


def test_a_huge_integer_label_is_refused_before_allocating(tmp_path):
    root = _root(tmp_path, "train/cat/a.png,0\ntrain/cat/a.png,999999999\n")
    began = time.perf_counter()
    with pytest.raises(
        DatasetError,
        match=r"train.csv:2: integer label 999999999 is too large for 2 distinct labels "
        r"\(must be < 1020\); remap the labels to 0..K-1 or use class names",
    ):
        _open(root)
    assert time.perf_counter() - began < 1.0  # the old code built range(10**9) names: minutes and 20+ GB


@pytest.mark.parametrize(
    "train, val, message",
    [
        ("train/cat/a.png,{big}\n", None, r"train.csv:1: integer label 9{30}\.\.\. is too large"),
        ("train/cat/a.png,0\n", "train/cat/a.png,{big}\n", r"val.csv:1: label '9{30}\.\.\.' is not an integer 0..0"),
        ("train/cat/a.png,0\ntrain/cat/a.png,-3\n", None, r"train.csv:2: label -3 is negative"),
    ],
)
def test_labels_beyond_any_class_index_are_one_short_line(tmp_path, train, val, message):
    big = "9" * 5000  # more digits than int() parses by default
    root = _root(tmp_path, train.format(big=big), val and val.format(big=big))
    with pytest.raises(DatasetError, match=message) as error:
        _open(root, "val" if val else "train")
    assert len(str(error.value)) < 300 and "\n" not in str(error.value)


def test_a_sparse_but_plausible_label_range_is_kept(tmp_path):
    dataset = _open(_root(tmp_path, "train/cat/a.png,0\ntrain/cat/a.png,40\n"))
    assert dataset.labels == [0, 40] and len(dataset.class_names) == 41


@pytest.mark.parametrize(
    "content",
    [
        "\ufeffpath,label\ntrain/cat/a.png,cat\n".encode("utf-8"),  # Excel's 'CSV UTF-8'
        "path,label\ntrain/cat/a.png,cat\n".encode("utf-16"),  # UTF-16 with its BOM
        b"path,label\r\ntrain/cat/a.png,cat\r\n",  # Windows line ends
    ],
)
def test_bom_and_utf16_files_read_like_utf8(tmp_path, content):
    dataset = _open(_root(tmp_path, content))
    assert dataset.class_names == ["cat"] and dataset.files == [tmp_path / "train/cat/a.png"]


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "train/cat/a.png,cat\ntrain/cat/a.png,caf\xe9\n".encode("latin-1"),
            r"train.csv:2: byte 0xe9 is not UTF-8 text",
        ),
        (b"train/cat/a.png,cat\ntrain/cat/a.png,dog\x00\n", r"train.csv:2: holds a NUL byte"),
        ("path,label\ntrain/cat/a.png,cat\n".encode("utf-16-le"), r"train.csv:1: holds a NUL byte"),  # no BOM
        ("train/cat/a.png,cat\n" + "x" * 200_000 + ",cat\n", r"train.csv:2: not a readable CSV row \(field larger"),
        ("", r"found no rows in .*train.csv"),
        ("path,label\n", r"found no rows in .*train.csv"),
    ],
)
def test_unreadable_or_empty_files_name_the_file_and_line(tmp_path, content, message):
    with pytest.raises(DatasetError, match=message) as error:
        _open(_root(tmp_path, content))
    assert "\n" not in str(error.value)
