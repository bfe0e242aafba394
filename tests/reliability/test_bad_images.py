"""Truncated, garbage and unlistable image files: one-line errors naming them, or (--on-error skip) left out and
listed."""

from __future__ import annotations

import importlib
import os

import cv2
import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from probekit.cli import app
from probekit.data.image_files import read_rgb
from probekit.data.label_maps import read_image as read_label_map_image
from probekit.errors import DatasetError, UnreadableFileError
from probekit.features import ExtractConfig, extract

RUNNER = CliRunner()
extract_module = importlib.import_module("probekit.features.extract")  # the package exports a function of that name


def _image(seed: int, shape=(40, 56)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(*shape, 3), dtype=np.uint8)


def _jpeg(seed: int) -> bytes:
    return cv2.imencode(".jpg", _image(seed))[1].tobytes()


def _tree(root, bad: dict[str, bytes] | None = None):
    """train/{cat,dog} with three good JPEGs each, plus the `bad` files."""
    for i in range(6):
        path = root / "train" / ("cat" if i < 3 else "dog") / f"{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_jpeg(i))
    for rel, data in (bad or {}).items():
        (root / rel).write_bytes(data)
    return root


BAD = {"train/cat/1b.jpg": _jpeg(9)[:400], "train/dog/4b.png": b"not a png at all" * 8}


def _extract(root, out, *extra):
    return RUNNER.invoke(
        app,
        [
            "extract",
            "--backbone",
            "test-dinov2",
            "--random-init",
            "--dataset",
            "imagefolder",
            "--root",
            str(root),
            "--image-size",
            "28",
            "--batch-size",
            "2",
            "--out",
            str(out),
            "-q",
            *extra,
        ],
    )


@pytest.mark.parametrize("workers", ["0", "1"])
def test_truncated_jpeg_fails_with_one_line_naming_it(tmp_path, workers):
    root = _tree(tmp_path / "data", {"train/cat/1b.jpg": BAD["train/cat/1b.jpg"]})
    result = _extract(root, tmp_path / "s.h5", "--workers", workers)
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "Caught" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("probekit: error: cannot read image")
    assert "train/cat/1b.jpg" in lines[0] and "truncated" in lines[0] and "--on-error skip" in lines[0]


def test_garbage_png_fails_naming_it(tmp_path):
    root = _tree(tmp_path / "data", {"train/dog/4b.png": BAD["train/dog/4b.png"]})
    result = _extract(root, tmp_path / "s.h5", "--workers", "1")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "train/dog/4b.png" in result.output and len(result.output.strip().splitlines()) == 1


def test_skip_leaves_bad_files_out_lists_them_and_probes(tmp_path):
    root = _tree(tmp_path / "data", BAD)
    out = tmp_path / "s.h5"
    result = _extract(root, out, "--workers", "0", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert "skipped 2 of 8 images (unreadable): first train/cat/1b.jpg" in result.output
    with h5py.File(out) as f:
        ids = [i.decode() for i in f["ids"][:]]
        layer = next(iter(f["layers"].values()))
        assert layer["cls"].shape[0] == layer["patch"].shape[0] == f["targets/label"].shape[0] == 6
        assert list(f["targets/label"][:]) == [0, 0, 0, 1, 1, 1]
    assert ids == [f"train/{'cat' if i < 3 else 'dog'}/{i}.jpg" for i in range(6)]
    info = RUNNER.invoke(app, ["info", str(out)])
    assert info.exit_code == 0 and "[complete]" in info.output
    assert "skipped (2 unreadable samples" in info.output
    assert "train/cat/1b.jpg: cannot read image" in info.output and "train/dog/4b.png" in info.output
    probe = RUNNER.invoke(
        app,
        [
            "probe",
            "--task",
            "classification",
            "--features",
            str(out),
            "--val",
            str(out),
            "--out",
            str(tmp_path / "runs"),
            "--epochs",
            "1",
            "--device",
            "cpu",
            "-q",
        ],
    )
    assert probe.exit_code == 0, probe.output


def test_skip_resumed_equals_uninterrupted(tmp_path, monkeypatch):
    root = _tree(tmp_path / "data", BAD)
    config = ExtractConfig(
        backbone="test-dinov2",
        random_init=True,
        dataset="imagefolder",
        root=str(root),
        image_size=(28, 28),
        batch_size=2,
        workers=0,
        on_error="skip",
    )
    whole = extract(config, tmp_path / "whole.h5", progress=False)
    calls = {"n": 0}
    forward = extract_module._forward

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # after the batches holding the first skipped file
            raise KeyboardInterrupt
        return forward(*args, **kwargs)

    monkeypatch.setattr(extract_module, "_forward", interrupted)
    with pytest.raises(KeyboardInterrupt):
        extract(config, tmp_path / "resumed.h5", progress=False)
    with h5py.File(tmp_path / "resumed.h5.partial") as f:
        assert not f.attrs["complete"] and len(str(f.attrs["skipped"])) > 10
    monkeypatch.setattr(extract_module, "_forward", forward)
    resumed = extract(config, tmp_path / "resumed.h5", progress=False)
    with h5py.File(whole) as a, h5py.File(resumed) as b:
        names = []
        a.visit(lambda name: names.append(name) if isinstance(a[name], h5py.Dataset) else None)
        for name in names:
            x, y = a[name][:], b[name][:]
            assert x.dtype == y.dtype and (x.tolist() if x.dtype == object else x.tobytes()) == (
                y.tolist() if y.dtype == object else y.tobytes()
            ), name
        for key in ("skipped", "num_samples", "num_done", "complete"):
            assert a.attrs[key] == b.attrs[key], key
        assert a.attrs["num_samples"] == 6


def test_raise_and_skip_stores_do_not_resume_each_other(tmp_path):
    root = _tree(tmp_path / "data")
    out = tmp_path / "s.h5"
    assert _extract(root, out, "--workers", "0").exit_code == 0
    result = _extract(root, out, "--workers", "0", "--on-error", "skip")
    assert result.exit_code == 2 and "exists with other settings" in result.output


def test_unknown_on_error_value(tmp_path):
    result = _extract(_tree(tmp_path / "data"), tmp_path / "s.h5", "--on-error", "ignore")
    assert result.exit_code == 2 and "'--on-error': 'ignore' is not one of raise, skip" in result.output


def test_unlistable_class_folder_is_an_error(tmp_path, monkeypatch):
    root = _tree(tmp_path / "data")
    real = os.scandir

    def denied(path="."):
        if str(path).endswith("dog"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", denied)  # os.walk lists folders with os.scandir
    result = _extract(root, tmp_path / "s.h5", "--workers", "0")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "cannot list folder" in result.output and "train/dog (Permission denied)" in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 folder anyway")
def test_chmod_000_class_folder_is_an_error(tmp_path):
    root = _tree(tmp_path / "data")
    os.chmod(root / "train/dog", 0)
    try:
        result = _extract(root, tmp_path / "s.h5", "--workers", "0")
    finally:
        os.chmod(root / "train/dog", 0o755)
    assert result.exit_code == 2 and "train/dog" in result.output


@pytest.mark.parametrize("reader", [read_rgb, lambda path: read_label_map_image(path, "voc")])
def test_readers_refuse_truncated_files(tmp_path, reader):
    path = tmp_path / "a.jpg"
    path.write_bytes(_jpeg(0)[:500])
    with pytest.raises(UnreadableFileError, match=r"(?i)a\.jpg .*truncated"):
        reader(path)
    png = tmp_path / "b.png"
    png.write_bytes(cv2.imencode(".png", _image(1))[1].tobytes()[:300])
    with pytest.raises(DatasetError, match=r"b\.png"):
        reader(png)


def _old_read_rgb(path) -> np.ndarray:
    """The OpenCV reader the Pillow one replaced: its pixels are the reference."""
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION), cv2.COLOR_BGR2RGB)


def test_good_files_decode_to_the_old_readers_pixels(tmp_path):
    from PIL import Image

    rgb = cv2.GaussianBlur(_image(3, (48, 64)), (0, 0), 2)
    written = {
        "q75.jpg": lambda p: cv2.imwrite(str(p), rgb, [cv2.IMWRITE_JPEG_QUALITY, 75]),
        "grey.jpg": lambda p: cv2.imwrite(str(p), rgb[..., 0]),
        "rgb.png": lambda p: cv2.imwrite(str(p), rgb),
        "grey.png": lambda p: cv2.imwrite(str(p), rgb[..., 0]),
        "rgba.png": lambda p: cv2.imwrite(str(p), np.dstack([rgb, rgb[..., :1]])),
        "grey16.png": lambda p: cv2.imwrite(str(p), rgb[..., 0].astype(np.uint16) * 257 + 3),
        "rgb16.png": lambda p: cv2.imwrite(str(p), rgb.astype(np.uint16) * 257),
        "palette.png": lambda p: Image.fromarray(rgb[..., 0] // 40, "P").save(p),
        "cmyk.jpg": lambda p: Image.fromarray(rgb).convert("CMYK").save(p),
        "a.bmp": lambda p: cv2.imwrite(str(p), rgb),
        "a.webp": lambda p: cv2.imwrite(str(p), rgb),
        "a.tif": lambda p: cv2.imwrite(str(p), rgb),
    }
    for name, write in written.items():
        write(tmp_path / name)
        new = read_rgb(tmp_path / name)
        assert new.dtype == np.uint8 and new.shape == (48, 64, 3) and new.flags.writeable, name
        np.testing.assert_array_equal(new, _old_read_rgb(tmp_path / name), err_msg=name)


def test_skip_is_refused_for_correspondence_datasets(tmp_path):
    result = RUNNER.invoke(
        app,
        [
            "extract",
            "--backbone",
            "test-dinov2",
            "--random-init",
            "--dataset",
            "synthetic-pairs",
            "--image-size",
            "28",
            "--limit",
            "2",
            "--workers",
            "0",
            "--on-error",
            "skip",
            "--out",
            str(tmp_path / "p.h5"),
        ],
    )
    assert result.exit_code == 2 and "correspondence dataset" in result.output, result.output
