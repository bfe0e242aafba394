"""Extraction over torchrun ranks: shards joined by HDF5 virtual datasets equal a one-process store."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from probekit.cli import app
from probekit.data import open_dataset
from probekit.errors import StoreError
from probekit.features import ExtractConfig, FeatureStore, extract
from probekit.features.extract import extract_views
from probekit.features.shards import ShardView, join_shards, run_key, shard_path, shard_ranges
from probekit.features.tta import tta_path, tta_views
from tests.features.test_extract import FailingAt, Interrupted, _assert_same_contents, _contents

REPO = Path(__file__).resolve().parents[2]
CONFIG = ExtractConfig(
    backbone="test-dinov2", random_init=True, image_size=(56, 84), layers="1,-1", batch_size=4, workers=0, limit=11
)
# The same settings as command-line arguments (11 samples: ranks of 5 and 6, batches that do not line up with
# the one-process run's).
ARGS = [
    *("--backbone", "test-dinov2", "--random-init", "--image-size", "56x84", "--layers", "1,-1"),
    *("--batch-size", "4", "--workers", "0", "--limit", "11", "--quiet"),
]


def _dataset():
    return open_dataset("synthetic", "train", image_size=CONFIG.image_size, limit=CONFIG.limit)


def _write_shards(out: Path, config: ExtractConfig = CONFIG, count: int = 2) -> tuple[list[Path], str, list]:
    """The shards of a `count`-rank run, extracted in this process (what each rank does), not yet joined."""
    dataset = _dataset()
    key = run_key(config, dataset.fingerprint(), len(dataset), count)
    ranges = shard_ranges(len(dataset), count)
    paths = []
    for index, (start, stop) in enumerate(ranges):
        shard = {"index": index, "count": count, "start": start, "stop": stop, "run": key}
        view = ShardView(dataset, start, stop, shard)
        paths.append(extract(config, shard_path(out, index, count, key), progress=False, dataset=view))
    return paths, key, ranges


def _key(config: ExtractConfig = CONFIG, count: int = 2) -> str:
    dataset = _dataset()
    return run_key(config, dataset.fingerprint(), len(dataset), count)


def _torchrun(out: Path, *extra: str, nproc: int = 2) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    command += ["-m", "probekit", "extract", *ARGS, "--out", str(out), *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def _nproc(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "probekit", "extract", *ARGS, "--out", str(out), "--nproc", "2", *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    return extract(CONFIG, tmp_path_factory.mktemp("one") / "one.h5", progress=False)


def test_shard_ranges_are_contiguous_and_cover_the_dataset():
    assert shard_ranges(11, 2) == [(0, 5), (5, 11)]
    assert shard_ranges(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert shard_path(Path("runs/val.h5"), 1, 4, "0123456789abcdef") == Path("runs/val.shard1-of-4-01234567.h5")


def test_joined_shards_equal_one_process_store_without_copying_features(tmp_path, one_process):
    out = tmp_path / "joined.h5"
    shards, key, ranges = _write_shards(out)
    join_shards(out, shards, _dataset(), key, ranges)
    _assert_same_contents(out, one_process)
    with h5py.File(out, "r") as f:
        assert f["layers/3/patch"].is_virtual and f["targets/depth"].is_virtual
        assert {s.file_name for s in f["layers/3/patch"].virtual_sources()} == {p.name for p in shards}
    with FeatureStore(out) as joined, FeatureStore(one_process) as single:
        assert len(joined) == 11 and joined.fingerprint == single.fingerprint
        assert joined.attrs["shards"][1] == {"file": shards[1].name, "start": 5, "stop": 11, "rows": 6}
        assert joined.verify() == []
        np.testing.assert_array_equal(joined.read_originals("mask", 3, 8)[4], single.read_originals("mask", 3, 8)[4])
    result = CliRunner().invoke(app, ["info", "--verify", str(out)])
    assert result.exit_code == 0, result.output
    assert "checksums intact" in result.output
    assert "joined from 2 shards" in result.output and f"{shards[1].name}  samples [5, 11)" in result.output


def test_a_joined_store_moves_with_its_shards_and_refuses_a_missing_one(tmp_path, one_process):
    out = tmp_path / "a" / "joined.h5"
    shards, key, ranges = _write_shards(out)
    join_shards(out, shards, _dataset(), key, ranges)
    moved = tmp_path / "b"
    shutil.move(str(out.parent), moved)
    with FeatureStore(moved / "joined.h5") as store, FeatureStore(one_process) as single:
        np.testing.assert_array_equal(store.read("patch", layer=1), single.read("patch", layer=1))
    (moved / shards[1].name).unlink()
    with pytest.raises(StoreError, match=rf"shard {shards[1].name} is missing"):
        FeatureStore(moved / "joined.h5")


def test_verify_finds_a_damaged_shard_through_the_joined_store(tmp_path):
    out = tmp_path / "joined.h5"
    shards, key, ranges = _write_shards(out)
    join_shards(out, shards, _dataset(), key, ranges)
    with h5py.File(shards[1], "r") as f:
        offset = f["layers/3/patch"].id.get_chunk_info(2).byte_offset  # sample 5 + 2 of the joined store
    with open(shards[1], "r+b") as raw:
        raw.seek(offset + 10)
        raw.write(b"\x55\xaa\x55\xaa")
    with FeatureStore(out) as store:
        problems = store.verify()
    assert any("layers/3/patch" in problem for problem in problems), problems


def test_skipped_unreadable_images_join_with_their_dataset_indices(tmp_path):
    from tests.reliability.test_bad_images import BAD, _tree

    root = _tree(tmp_path / "data", BAD)  # 8 images, 2 unreadable (dataset indices 2 and 6)
    config = ExtractConfig(
        backbone="test-dinov2", random_init=True, image_size=(28, 28), dataset="imagefolder", root=str(root),
        workers=0, batch_size=3, on_error="skip",
    )  # fmt: skip
    dataset = open_dataset("imagefolder", "train", str(root), (28, 28))
    key, ranges = run_key(config, dataset.fingerprint(), len(dataset), 2), shard_ranges(len(dataset), 2)
    out, shards = tmp_path / "joined.h5", []
    for index, (start, stop) in enumerate(ranges):
        view = ShardView(dataset, start, stop, {"index": index, "count": 2, "start": start, "stop": stop, "run": key})
        shards.append(extract(config, shard_path(out, index, 2, key), progress=False, dataset=view))
    join_shards(out, shards, dataset, key, ranges)
    single = extract(config, tmp_path / "one.h5", progress=False)
    _assert_same_contents(out, single)
    with FeatureStore(out) as joined, FeatureStore(single) as one:
        assert len(joined) == 6 and joined.attrs["skipped"] == one.attrs["skipped"]
        assert [entry["index"] for entry in joined.attrs["skipped"]] == [2, 6]


def test_join_refuses_a_shard_of_another_run(tmp_path):
    out = tmp_path / "joined.h5"
    shards, key, ranges = _write_shards(out)
    other, _, _ = _write_shards(tmp_path / "other.h5", replace(CONFIG, seed=1))
    os.replace(other[1], shards[1])
    with pytest.raises(StoreError, match=rf"{shards[1].name} is not shard 1 of this run"):
        join_shards(out, shards, _dataset(), key, ranges)
    assert not out.exists()


def test_overwrite_keeps_the_old_store_whole_until_the_new_one_is_joined(tmp_path, one_process):
    out = tmp_path / "joined.h5"
    old_shards, old_key, ranges = _write_shards(out, replace(CONFIG, seed=1))
    join_shards(out, old_shards, _dataset(), old_key, ranges)
    before = _contents(out)
    new_key = _key()
    assert new_key != old_key
    # the --overwrite run: rank 0 finishes its shard, rank 1 is interrupted; the old store reads as before
    dataset = _dataset()
    for index, (start, stop) in enumerate(ranges):
        shard = {"index": index, "count": 2, "start": start, "stop": stop, "run": new_key}
        view = ShardView(FailingAt(dataset, 8) if index == 1 else dataset, start, stop, shard)
        with contextlib.suppress(Interrupted):
            extract(CONFIG, shard_path(out, index, 2, new_key), overwrite=True, progress=False, dataset=view)
    after = _contents(out)
    assert sorted(after) == sorted(before)
    for name, values in before.items():
        if values.dtype != object:
            np.testing.assert_array_equal(after[name], values, err_msg=name)
    # resumed and joined: the new store, and the old run's shards are gone
    for index, (start, stop) in enumerate(ranges):
        shard = {"index": index, "count": 2, "start": start, "stop": stop, "run": new_key}
        view = ShardView(dataset, start, stop, shard)
        extract(CONFIG, shard_path(out, index, 2, new_key), progress=False, dataset=view)
    join_shards(out, [shard_path(out, index, 2, new_key) for index in range(2)], dataset, new_key, ranges)
    _assert_same_contents(out, one_process)
    assert not any(path.exists() for path in old_shards)
    assert all(shard_path(out, index, 2, new_key).is_file() for index in range(2))


@pytest.mark.slow
def test_two_gloo_ranks_write_the_one_process_store(tmp_path, one_process):
    out = tmp_path / "two.h5"
    result = _torchrun(out)
    assert result.returncode == 0, result.stderr
    _assert_same_contents(out, one_process)
    shards = [shard_path(out, index, 2, _key()) for index in range(2)]
    stamps = [p.stat().st_mtime_ns for p in (out, *shards)]
    again = _torchrun(out)  # complete with these settings: nothing to do
    assert again.returncode == 0, again.stderr
    assert [p.stat().st_mtime_ns for p in (out, *shards)] == stamps


@pytest.mark.slow
def test_two_gloo_ranks_write_the_one_process_view_stores(tmp_path):
    out = tmp_path / "two.h5"
    result = _torchrun(out, "--scales", "0.5,1", "--flip")
    assert result.returncode == 0, result.stderr
    single = extract_views(CONFIG, tmp_path / "one" / "one.h5", (0.5, 1.0), True, progress=False)
    joined = [out, *(tta_path(out, scale, flipped) for scale, flipped in tta_views((0.5, 1.0), True)[1:])]
    assert [p.name.replace("two", "one") for p in joined] == [p.name for p in single]
    for ours, theirs in zip(joined, single, strict=True):
        _assert_same_contents(ours, theirs)
        with FeatureStore(ours) as store:
            assert len(store.attrs["shards"]) == 2


@pytest.mark.slow
def test_nproc_refuses_a_foreign_shard_then_resumes_an_interrupted_one(tmp_path, one_process):
    out = tmp_path / "run.h5"
    key = _key()
    foreign, _, _ = _write_shards(tmp_path / "other.h5", replace(CONFIG, seed=1))
    os.replace(foreign[1], shard_path(out, 1, 2, key))
    refused = _nproc(out)
    assert refused.returncode != 0
    assert f"{shard_path(out, 1, 2, key)} exists with other settings" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not out.exists() and shard_path(out, 0, 2, key).is_file()  # rank 0's shard is complete, nothing joined

    shard_path(out, 1, 2, key).unlink()
    dataset = _dataset()
    shard = {"index": 1, "count": 2, "start": 5, "stop": 11, "run": key}
    view = ShardView(FailingAt(dataset, 10), 5, 11, shard)
    with pytest.raises(Interrupted):  # rank 1 stops after its first batch of 4
        extract(CONFIG, shard_path(out, 1, 2, key), progress=False, dataset=view)
    with h5py.File(str(shard_path(out, 1, 2, key)) + ".partial", "r") as f:
        assert int(f.attrs["num_done"]) == 4
    resumed = _nproc(out)
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_contents(out, one_process)


def test_nproc_passes_the_command_line_on_to_torchrun(tmp_path, monkeypatch):
    launched = []
    monkeypatch.setattr("probekit.features.shards.launch", lambda nproc, args: launched.append((nproc, args)))
    out = tmp_path / "x.h5"
    result = CliRunner().invoke(app, ["extract", *ARGS, "--no-norm", "--out", str(out), "--nproc", "2"])
    assert result.exit_code == 0, result.output
    ((nproc, args),) = launched
    assert nproc == 2 and "--nproc" not in args
    assert args[args.index("--out") + 1] == str(out) and "--no-norm" in args and "--random-init" in args


@pytest.mark.gpu
def test_nccl_ranks_write_the_one_process_store(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    out = tmp_path / "two.h5"
    nproc = min(2, torch.cuda.device_count())  # nccl: one GPU per rank
    result = _torchrun(out, "--device", "cuda", nproc=nproc)
    assert result.returncode == 0, result.stderr
    single = extract(replace(CONFIG, device="cuda"), tmp_path / "one.h5", progress=False)
    with FeatureStore(out) as joined, FeatureStore(single) as one:
        assert joined.ids == one.ids
        np.testing.assert_allclose(joined.read("cls", layer=1), one.read("cls", layer=1), atol=1e-2)


def test_nproc_is_refused_under_torchrun(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = CliRunner().invoke(app, ["extract", *ARGS, "--out", str(tmp_path / "x.h5"), "--nproc", "2"])
    assert result.exit_code == 2
    assert "runs under torchrun already: drop --nproc" in result.output
