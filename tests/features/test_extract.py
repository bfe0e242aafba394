"""Extraction: resume after an interruption (exception or SIGKILL) gives the same file contents."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from probekit.data import open_dataset
from probekit.errors import ProbekitError, StoreError
from probekit.features import ExtractConfig, FeatureStore, extract
from probekit.features.background import QUEUE_DEPTH
from probekit.features.store import _row_spans
from probekit.files import partial_path

CONFIG = ExtractConfig(
    backbone="test-dinov2-reg", random_init=True, image_size=(42, 70), layers="0,-1", batch_size=5, workers=0, limit=23
)


class Interrupted(Exception):
    pass


class FailingAt:
    """The configured dataset, raising when sample `index` is requested (an interrupted run)."""

    def __init__(self, dataset, index: int):
        self.dataset, self.index = dataset, index
        self.name, self.split, self.targets = dataset.name, dataset.split, dataset.targets
        self.originals = dataset.originals

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        if i == self.index:
            raise Interrupted(f"sample {i}")
        return self.dataset[i]

    def fingerprint(self):
        return self.dataset.fingerprint()

    def describe(self):
        return self.dataset.describe()


def _dataset():
    return open_dataset("synthetic", "train", image_size=CONFIG.image_size, limit=CONFIG.limit)


def _contents(path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, node: out.__setitem__(name, node[()]) if isinstance(node, h5py.Dataset) else None)
    return out


def _assert_same_contents(a, b):
    """Every dataset equal: ids, every layer's cls/mean/patch, targets, originals (encoded bytes)."""
    ca, cb = _contents(a), _contents(b)
    assert sorted(ca) == sorted(cb)
    for key in ca:
        if ca[key].dtype == object and key.startswith("originals/"):  # encoded maps, one array per row
            assert all(np.array_equal(x, y) for x, y in zip(ca[key], cb[key], strict=True)), key
        else:
            np.testing.assert_array_equal(ca[key], cb[key], err_msg=key)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return extract(CONFIG, tmp_path_factory.mktemp("full") / "full.h5", progress=False)


def test_resume_after_an_exception_gives_identical_contents(tmp_path, uninterrupted):
    path = tmp_path / "resumed.h5"
    with pytest.raises(Interrupted):
        extract(CONFIG, path, progress=False, dataset=FailingAt(_dataset(), 12))
    with pytest.raises(StoreError, match=r"incomplete .*10/23"):  # two whole batches of 5 made it
        FeatureStore(path)
    extract(CONFIG, path, progress=False)
    assert FeatureStore(path).attrs["complete"]
    _assert_same_contents(path, uninterrupted)


def test_resume_after_sigkill_gives_identical_contents(tmp_path, uninterrupted):
    path = tmp_path / "killed.h5"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(__file__.rsplit("/", 1)[0])!r})
        from test_extract import CONFIG, FailingAt, _dataset
        from probekit.features import extract

        class KilledAt(FailingAt):
            def __getitem__(self, i):
                if i == self.index:
                    os.kill(os.getpid(), signal.SIGKILL)
                return self.dataset[i]

        extract(CONFIG, {str(path)!r}, progress=False, dataset=KilledAt(_dataset(), 17))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == -9, result.stderr
    # whole batches only; the batches still queued for the background writer at the kill are lost, none written
    done = FeatureStore(path, allow_incomplete=True).attrs["num_done"]
    assert done % 5 == 0 and 15 - 5 * (QUEUE_DEPTH + 1) <= done <= 15, done
    extract(CONFIG, path, progress=False)
    _assert_same_contents(path, uninterrupted)


def test_resume_after_a_kill_during_a_flush_clears_dangling_row_pointers(tmp_path, uninterrupted):
    """A kill while HDF5 flushed a batch can leave variable-length rows past num_done (ids, /originals)
    pointing at heap objects that never reached the disk; resuming zeroes them instead of failing on them."""
    path = tmp_path / "dangling.h5"
    with pytest.raises(Interrupted):
        extract(CONFIG, path, progress=False, dataset=FailingAt(_dataset(), 12))
    partial = partial_path(path)
    with h5py.File(partial, "r") as f:
        assert int(f.attrs["num_done"]) == 10
        spans = [_row_spans(f[name], 0) for name in ("ids", "originals/mask")]
    with open(partial, "r+b") as raw:
        for (offset, _), width in ((span[0], 16) for span in spans):
            raw.seek(offset)
            pointer = bytearray(raw.read(width))  # row 0: length, heap collection address, object index
            pointer[12:16] = (9999).to_bytes(4, "little")  # an object the collection does not hold
            raw.seek(offset + 10 * width)
            raw.write(pointer)  # row 10, past num_done, now dangles
    extract(CONFIG, path, progress=False)
    _assert_same_contents(path, uninterrupted)


def test_complete_store_is_skipped_and_other_settings_are_refused(tmp_path, uninterrupted):
    path = tmp_path / "copy.h5"
    path.write_bytes(uninterrupted.read_bytes())
    before = path.stat().st_mtime_ns
    extract(CONFIG, path, progress=False)
    assert path.stat().st_mtime_ns == before
    with pytest.raises(StoreError, match=r"other settings.*--overwrite"):
        extract(ExtractConfig(**{**CONFIG.__dict__, "layers": "-1"}), path, progress=False)
    extract(ExtractConfig(**{**CONFIG.__dict__, "layers": "-1"}), path, progress=False, overwrite=True)
    assert FeatureStore(path).layers == [3]


def test_image_size_must_be_a_multiple_of_the_patch(tmp_path):
    with pytest.raises(ProbekitError, match="multiple of the patch size 14: try 56x70"):
        extract(ExtractConfig(**{**CONFIG.__dict__, "image_size": (60, 72)}), tmp_path / "x.h5", progress=False)
    assert not (tmp_path / "x.h5").exists()


def test_workers_give_the_same_contents_as_the_main_process(tmp_path, uninterrupted):
    path = extract(ExtractConfig(**{**CONFIG.__dict__, "workers": 2}), tmp_path / "w.h5", progress=False)
    _assert_same_contents(path, uninterrupted)


def test_provenance_attrs(uninterrupted):
    attrs = FeatureStore(uninterrupted).attrs
    for key in (
        "probekit_version",
        "git_sha",
        "backbone",
        "weights_sha256",
        "image_size",
        "patch_size",
        "grid",
        "layers",
        "norm",
        "dtype",
        "pixel_mean",
        "pixel_std",
        "dataset",
        "dataset_fingerprint",
        "created",
        "complete",
        "num_registers",
        "global_source",
        "versions",
    ):
        assert key in attrs, key
    assert attrs["grid"] == [3, 5] and attrs["layers"] == [0, 3] and attrs["num_registers"] == 4
    assert attrs["weights_sha256"] == "random-init(seed=0)" and attrs["global_source"] == "cls"


def test_float16_overflow_is_refused(tmp_path, monkeypatch):
    from probekit.backbones.pixels import PixelsBackbone

    huge = PixelsBackbone("pixels-p14", 14)
    object.__setattr__(huge, "preprocessing", huge.preprocessing.__class__(mean=(0, 0, 0), std=(1e-9, 1e-9, 1e-9)))
    with pytest.raises(StoreError, match=r"float16 range.*--dtype float32"):
        extract(
            ExtractConfig(**{**CONFIG.__dict__, "backbone": "pixels-p14"}),
            tmp_path / "o.h5",
            progress=False,
            backbone=huge,
        )
