"""A full disk: refused before starting when the store cannot fit, stopped cleanly before a batch that
would not fit, and the store left valid so that the same command resumes it once space is freed."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap

import h5py
import pytest
from typer.testing import CliRunner

from probekit.cli import app
from probekit.data.base import TargetSpec
from probekit.errors import DiskFullError
from probekit.features import ExtractConfig, extract
from probekit.features.originals import FRAME_FIELDS, estimated_bytes
from probekit.features.space import human_bytes, is_disk_full, sample_bytes
from probekit.features.store import StoreLayout
from probekit.files import partial_path

RUNNER = CliRunner()
extract_module = importlib.import_module("probekit.features.extract")
store_module = importlib.import_module("probekit.features.store")
CONFIG = ExtractConfig(backbone="test-dinov2", random_init=True, image_size=(28, 28), limit=12, batch_size=3, workers=0)
ARGS = [
    "extract",
    "--backbone",
    "test-dinov2",
    "--random-init",
    "--image-size",
    "28",
    "--limit",
    "12",
    "--batch-size",
    "3",
    "--workers",
    "0",
    "--quiet",
]


def _contents(path) -> dict[str, bytes]:
    with h5py.File(path) as f:
        names: list[str] = []
        f.visit(lambda name: names.append(name) if isinstance(f[name], h5py.Dataset) else None)
        return {
            name: (repr(f[name][:].tolist()) if f[name].dtype == object else f[name][:].tobytes()) for name in names
        }


def test_store_that_cannot_fit_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(extract_module, "free_bytes", lambda path: 1000)
    result = RUNNER.invoke(app, [*ARGS, "--out", str(tmp_path / "s.h5")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "not enough disk space" in lines[0] and "1.0 KB free" in lines[0] and "--no-space-check" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written, no lock left


def test_disk_filling_up_midway_stops_cleanly_and_resumes_to_the_same_store(tmp_path, monkeypatch):
    reference = extract(CONFIG, tmp_path / "reference.h5", progress=False)
    calls = {"n": 0}

    def shrinking(path):  # room for two batches, then the disk is full
        calls["n"] += 1
        return 10**12 if calls["n"] <= 2 else 10

    monkeypatch.setattr(store_module, "free_bytes", shrinking)
    path = tmp_path / "s.h5"
    result = RUNNER.invoke(app, [*ARGS, "--out", str(path)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("probekit: error: disk full:"), (
        result.output
    )
    assert "re-run the same command to resume" in lines[0]
    with h5py.File(partial_path(path)) as f:
        assert int(f.attrs["num_done"]) == 6 and not f.attrs["complete"]
    monkeypatch.undo()
    extract(CONFIG, path, progress=False)
    assert _contents(path) == _contents(reference)


def test_sample_bytes_bounds_the_store_size_and_the_estimate_is_close(tmp_path):
    """The per-batch check's bytes per sample (maps uncompressed) bound the store; the up-front estimate
    (typical compression ratios) is within a factor of two of it."""
    path = extract(
        ExtractConfig(**{**CONFIG.__dict__, "limit": 64, "image_size": (56, 56)}), tmp_path / "s.h5", progress=False
    )
    with h5py.File(path) as f:
        layers = [int(k) for k in f["layers"]]
        grid, dim = tuple(f.attrs["grid"]), int(f.attrs["embed_dim"])
        targets = {name: (f[f"targets/{name}"].shape[1:], f[f"targets/{name}"].dtype.str) for name in f["targets"]}
        originals = sorted(set(f["originals"]) - set(FRAME_FIELDS))  # compressed: estimated by typical ratios
    bound = 64 * (sample_bytes(layers, grid, dim, "float16", targets) + estimated_bytes(targets, originals))
    assert bound > os.path.getsize(path)
    layout = StoreLayout(
        64,
        layers,
        grid,
        dim,
        "float16",
        {name: TargetSpec(tuple(shape), kind) for name, (shape, kind) in targets.items()},
        originals=tuple(originals),
    )
    assert 0.5 < layout.size(64).total / os.path.getsize(path) < 2


@pytest.mark.parametrize(
    "error, full",
    [
        (OSError(28, "No space left on device"), True),
        (
            RuntimeError("Can't write data (file write failed: errno = 28, error message = 'No space left on device')"),
            True,
        ),
        (OSError(13, "Permission denied"), False),
    ],
)
def test_disk_full_is_recognised_in_hdf5_messages(error, full):
    assert is_disk_full(error) is full


def test_human_bytes():
    assert [human_bytes(n) for n in (12, 1234, 5_600_000, 7.1e9)] == ["12 B", "1.2 KB", "5.6 MB", "7.1 GB"]


def _mount_tmpfs(folder, size: str) -> bool:
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    folder.mkdir()
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
        ).returncode
        == 0
    )


def test_real_enospc_is_one_line_no_crash_and_resumable(tmp_path):
    """The per-batch check turned off, so HDF5 itself hits a full file system (a real tmpfs)."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "512k"):  # below the store's ~770 KB (targets are compressed)
        pytest.skip("needs root and tmpfs to fill a real file system")
    try:
        script = textwrap.dedent(f"""
            import importlib, sys
            for name in ("probekit.features.store", "probekit.features.extract"):
                importlib.import_module(name).free_bytes = lambda path: 10**12  # no checks: let HDF5 fail
            from probekit.cli import main
            sys.argv = ["probekit", "extract", "--backbone", "test-dinov2", "--random-init", "--image-size", "56",
                        "--limit", "60", "--batch-size", "4", "--workers", "0", "-q", "--out", {str(disk / "s.h5")!r}]
            main()
        """)
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
        assert result.returncode == 2, result.stderr  # not a segfault (139) or bus error (135)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("probekit: error: disk full:"), result.stderr
        with h5py.File(partial_path(disk / "s.h5")) as f:  # the samples counted are on disk and readable
            done = int(f.attrs["num_done"])
            assert 0 < done < 60 and f["layers/3/patch"][:done].any(axis=(1, 2, 3)).all()
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_write_error_other_than_disk_full_is_a_store_error(tmp_path, monkeypatch):
    path = tmp_path / "s.h5"
    writer_class = store_module.StoreWriter
    original = writer_class.write

    def failing(self, *args, **kwargs):
        self._datasets["ids"] = _Broken()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(writer_class, "write", failing)
    with pytest.raises(store_module.StoreError, match=r"cannot write .*Input/output error") as caught:
        extract(CONFIG, path, progress=False)
    assert not isinstance(caught.value, DiskFullError) and caught.value.exit_now


class _Broken:
    def __setitem__(self, key, value):
        raise OSError(5, "Input/output error")
