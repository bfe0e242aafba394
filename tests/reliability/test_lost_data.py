"""No lost data: --overwrite replaces a good store only with a complete one, a lock refuses a second writer,
and results, heads and tables are written whole or not at all."""

from __future__ import annotations

import hashlib
import importlib
import os

import h5py
import pytest
from typer.testing import CliRunner

from probekit.cli import app
from probekit.errors import StoreBusyError, StoreError
from probekit.features import ExtractConfig, extract
from probekit.files import atomic_path, atomic_write_text, exclusive_lock, partial_path

RUNNER = CliRunner()
extract_module = importlib.import_module("probekit.features.extract")  # the package exports a function of that name
ARGS = [
    "extract",
    "--backbone",
    "test-dinov2",
    "--random-init",
    "--image-size",
    "28",
    "--limit",
    "6",
    "--batch-size",
    "3",
    "--workers",
    "0",
    "--quiet",
]
CONFIG = ExtractConfig(backbone="test-dinov2", random_init=True, image_size=(28, 28), limit=6, batch_size=3, workers=0)


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def good(tmp_path):
    """A complete store and its bytes' digest."""
    path = extract(CONFIG, tmp_path / "good.h5", progress=False)
    return path, _digest(path)


def _interrupt_at_batch(batch: int, monkeypatch) -> None:
    """Make extraction stop with Ctrl-C when it reaches batch number `batch` (1-based)."""
    forward, calls = extract_module._forward, {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == batch:
            raise KeyboardInterrupt
        return forward(*args, **kwargs)

    monkeypatch.setattr(extract_module, "_forward", interrupted)


def _one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("probekit: error:"), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    "bad",
    [
        ["--image-size", "29"],
        ["--backbone", "no-such-backbone"],
        ["--dtype", "float8"],
        ["--layers", "7"],
        ["--dataset", "no-such-dataset"],
        ["--batch-size", "0"],
    ],
)
def test_overwrite_with_bad_arguments_keeps_the_good_store(good, bad):
    path, digest = good
    line = _one_error_line(RUNNER.invoke(app, [*ARGS, "--out", str(path), "--overwrite", *bad]))
    assert _digest(path) == digest, line
    assert not partial_path(path).exists()


def test_overwrite_failing_midway_keeps_the_good_store_and_a_resumable_partial(good, monkeypatch):
    path, digest = good
    _interrupt_at_batch(2, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        extract(ExtractConfig(**{**CONFIG.__dict__, "seed": 1}), path, overwrite=True, progress=False)
    assert _digest(path) == digest  # the good store is untouched while its successor is unfinished
    with h5py.File(partial_path(path)) as f:
        assert int(f.attrs["num_done"]) == 3 and not f.attrs["complete"]
    assert not path.with_name(path.name + ".lock").exists()  # the lock went with the run


def test_overwrite_that_completes_replaces_the_store(good):
    path, digest = good
    extract(ExtractConfig(**{**CONFIG.__dict__, "seed": 1}), path, overwrite=True, progress=False)
    assert _digest(path) != digest
    with h5py.File(path) as f:
        assert f.attrs["complete"] and "seed=1" in f.attrs["weights_sha256"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["good.h5"]  # no partial, no lock, no temp files


def test_a_second_writer_is_refused_by_the_lock(good):
    path, digest = good
    with exclusive_lock(path, "--out"):  # as if another `probekit extract` were writing it
        line = _one_error_line(RUNNER.invoke(app, [*ARGS, "--out", str(path), "--overwrite"]))
    assert "another probekit process" in line and f"pid {os.getpid()}" in line
    assert _digest(path) == digest
    extract(CONFIG, path, progress=False)  # released: the same settings find the store complete


def test_lock_is_exclusive_and_released():
    import tempfile
    from pathlib import Path

    target = Path(tempfile.mkdtemp()) / "x.h5"
    with exclusive_lock(target, "--out"), pytest.raises(StoreBusyError), exclusive_lock(target, "--out"):
        pass
    with exclusive_lock(target, "--out"):
        pass
    assert not target.with_name("x.h5.lock").exists()


def test_unfinished_store_of_other_settings_is_refused_then_replaced_with_overwrite(tmp_path, monkeypatch):
    path = tmp_path / "s.h5"
    _interrupt_at_batch(1, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        extract(CONFIG, path, progress=False)
    monkeypatch.undo()
    other = ExtractConfig(**{**CONFIG.__dict__, "seed": 3})
    with pytest.raises(StoreError, match="interrupted extraction with other settings"):
        extract(other, path, progress=False)
    extract(other, path, overwrite=True, progress=False)
    with h5py.File(path) as f:
        assert "seed=3" in f.attrs["weights_sha256"]


def test_store_interrupted_in_place_by_an_older_probekit_resumes(tmp_path, monkeypatch):
    path = tmp_path / "s.h5"
    _interrupt_at_batch(2, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        extract(CONFIG, path, progress=False)
    monkeypatch.undo()
    os.replace(partial_path(path), path)  # where probekit <= 0.1 left an interrupted store
    extract(CONFIG, path, progress=False)
    reference = extract(CONFIG, tmp_path / "reference.h5", progress=False)
    with h5py.File(path) as a, h5py.File(reference) as b:
        assert a.attrs["complete"]
        assert a["layers/3/patch"][:].tobytes() == b["layers/3/patch"][:].tobytes()


@pytest.mark.parametrize("kind", ["directory", "file-as-parent"])
def test_out_that_cannot_be_a_store_is_one_line(tmp_path, kind):
    if kind == "directory":
        out = tmp_path / "dir.h5"
        out.mkdir()
    else:
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "s.h5"
    line = _one_error_line(RUNNER.invoke(app, [*ARGS, "--out", str(out)]))
    assert str(out) in line


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = atomic_write_text(tmp_path / "r.json", "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk went away")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_probe_head_and_json_are_replaced_whole(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    run_module = importlib.import_module("probekit.tasks.run")
    store = extract(ExtractConfig(**{**CONFIG.__dict__, "limit": 20}), tmp_path / "s.h5", progress=False)
    out = tmp_path / "results"
    args = [
        "probe",
        "--task",
        "classification",
        "--features",
        str(store),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--quiet",
        "--n-blocks",
        "1",
        "--pooling",
        "cls",
    ]
    assert RUNNER.invoke(app, args).exit_code == 0
    (result,) = out.glob("*.json")
    head = result.with_suffix(".safetensors")
    before = (_digest(result), _digest(head))

    def broken_save(tensors, filename):  # a crash after half the head is on disk
        with open(filename, "wb") as handle:
            handle.write(b"half a head")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_module, "save_file", broken_save)
    failed = RUNNER.invoke(app, [*args, "--overwrite"])
    assert failed.exit_code != 0
    assert (_digest(result), _digest(head)) == before
    load_file(str(head))  # still a whole safetensors file
    assert sorted(p.name for p in out.iterdir()) == sorted([result.name, head.name])
