"""One image reader: every image, depth map and label file is opened by probekit.data.image_files.load_image."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import probekit
from probekit.data.image_files import read_png16, read_rgb
from probekit.data.label_maps import read_label
from probekit.errors import DatasetError, UnreadableFileError

READERS: dict[str, Callable[[Path], np.ndarray]] = {
    "image": read_rgb,
    "depth map": read_png16,
    "label": lambda path: read_label(path, "voc"),
}


def depth_png(path: Path, shape: tuple[int, int] = (48, 64), seed: int = 0) -> np.ndarray:
    depth = np.random.default_rng(seed).integers(0, 65536, shape, dtype=np.uint16)  # (H, W)
    depth.flat[0], depth.flat[-1] = 65535, 0
    cv2.imwrite(str(path), depth)
    return depth


def bomb_png(path: Path) -> Path:
    """A tiny palette PNG whose header claims 30000x30000 pixels (Pillow's decompression-bomb limit)."""
    Image.fromarray(np.zeros((4, 4), np.uint8)).convert("P").save(path)
    data = bytearray(path.read_bytes())
    header = struct.pack(">II", 30000, 30000) + bytes(data[24:29])
    data[16:29], data[29:33] = header, struct.pack(">I", zlib.crc32(b"IHDR" + header))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("what", READERS)
@pytest.mark.parametrize("fault", ["missing", "directory", "empty", "text", "truncated", "bomb"])
def test_every_reader_names_the_file_in_one_unreadable_error(tmp_path: Path, what: str, fault: str) -> None:
    path = tmp_path / "x.png"
    if fault == "directory":
        path.mkdir()
    elif fault == "empty":
        path.write_bytes(b"")
    elif fault == "text":
        path.write_text("not an image")
    elif fault == "truncated":
        depth_png(path) if what == "depth map" else Image.fromarray(
            np.random.default_rng(0).integers(0, 20, (48, 64), dtype=np.uint8)
        ).convert("P").save(path)
        path.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.6)])
    elif fault == "bomb":
        bomb_png(path)
    with pytest.raises(UnreadableFileError) as error:
        READERS[what](path)
    message = str(error.value)
    assert f"cannot read {what} {path} (" in message and "\n" not in message


def test_a_decompression_bomb_says_so(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="too large to decode safely"):
        read_label(bomb_png(tmp_path / "big.png"), "voc")


def test_depth_maps_read_bit_identical_to_opencv(tmp_path: Path) -> None:
    for seed, shape in enumerate([(1, 1), (7, 13), (375, 124)]):
        depth = depth_png(tmp_path / f"{seed}.png", shape, seed)
        read = read_png16(tmp_path / f"{seed}.png")
        assert read.dtype == np.uint16 and read.flags.writeable
        np.testing.assert_array_equal(read, depth)
        np.testing.assert_array_equal(read, cv2.imread(str(tmp_path / f"{seed}.png"), cv2.IMREAD_UNCHANGED))


@pytest.mark.parametrize("mode", ["L", "P", "RGB"])
def test_a_depth_map_that_is_not_16_bit_grey_is_refused_naming_its_mode(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "depth.png"
    Image.fromarray(np.zeros((6, 9, 3), np.uint8)).convert(mode).save(path)
    with pytest.raises(DatasetError, match=re.escape(f"{path} is a {mode} image of 9x6: expected a single-channel")):
        read_png16(path)


def test_a_16_bit_colour_png_is_not_a_depth_map(tmp_path: Path) -> None:
    path = tmp_path / "rgb16.png"
    cv2.imwrite(str(path), np.full((6, 9, 3), 40000, np.uint16))
    with pytest.raises(DatasetError, match="expected a single-channel 16-bit PNG"):
        read_png16(path)


def test_labels_keep_palette_indices_and_images_get_palette_colours(tmp_path: Path) -> None:
    path = tmp_path / "label.png"
    label = Image.fromarray(np.array([[0, 1], [2, 255]], np.uint8), "P")
    label.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [224, 224, 192] * 253)
    label.save(path)
    np.testing.assert_array_equal(read_label(path, "voc"), [[0, 1], [2, 255]])
    np.testing.assert_array_equal(read_rgb(path)[0, 1], [128, 0, 0])


def test_no_module_decodes_images_outside_image_files() -> None:
    root = Path(probekit.__file__).parent
    decoders = re.compile(r"Image\.open|cv2\.imread|cv2\.imdecode|imageio|torchvision\.io")
    found = [
        f"{path.relative_to(root.parent)}:{number}"
        for path in sorted(root.rglob("*.py"))
        if path.name != "image_files.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if decoders.search(line)
    ]
    assert not found, "image decoding outside probekit/data/image_files.py: " + ", ".join(found)
