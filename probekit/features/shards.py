"""Extraction over torchrun ranks: one shard store per rank, joined by rank 0 into one store of HDF5 virtual datasets.

Under `torchrun --nproc-per-node N -m probekit extract ... --out OUT` (or `probekit extract --nproc N`), the
dataset is split into N contiguous index ranges, rank r extracts range r into its own shard, an ordinary
store (`.partial`, lock, resume, checksums) named `<stem>.shard<r>-of-<N><suffix>` beside OUT, whose attrs
add `shard` (index, count, start, stop and the run key). When every rank is done, rank 0 checks that every
shard is complete and from this run, and writes OUT: fixed-size datasets are virtual datasets over the
shards' (relative file names, so the folder moves as a whole); variable-length ones (ids, encoded originals)
are copied, being small. OUT is written as OUT.partial and renamed when whole, like any store.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import h5py

from probekit.backbones.base import Backbone
from probekit.data import ImageDataset, open_dataset
from probekit.data.pairs import write_pairs
from probekit.device import resolve_device
from probekit.errors import DatasetError, ProbekitError, StoreError
from probekit.features.extract import ExtractConfig, check_config, extract, view_jobs
from probekit.features.store import ZERO_ROWS, FeatureStore
from probekit.files import exclusive_lock, partial_path
from probekit.h5attrs import read_attrs, write_attrs
from probekit.provenance import short_hash, utc_now

log = logging.getLogger("probekit.extract")
# How long a finished rank waits for the others (a resumed rank may have far more left than its peers).
WAIT = timedelta(days=2)
_JOIN_BLOCK = 4096  # rows of a variable-length dataset copied at a time


@dataclass(frozen=True)
class Rank:
    """This process's place in a torchrun job (torch.distributed's RANK, WORLD_SIZE, LOCAL_RANK)."""

    rank: int
    world: int
    local: int


def rank_from_env() -> Rank | None:
    """The torchrun rank of this process; None outside torchrun. A job of one process writes one shard."""
    if "WORLD_SIZE" not in os.environ:
        return None
    try:
        rank = Rank(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0")))
    except (KeyError, ValueError):
        raise ProbekitError(
            "WORLD_SIZE is set but RANK is missing or not a number: start ranks with torchrun "
            "(torchrun --nproc-per-node N -m probekit extract ...)"
        ) from None
    return rank


SHARD_KEY_CHARS = 8  # of the run key, in shard file names


def shard_path(out: Path, index: int, count: int, key: str) -> Path:
    """Where rank `index` of `count` of run `key` writes its shard: `<stem>.shard<index>-of-<count>-<key8><suffix>`
    beside `out`. The run key in the name keeps an `--overwrite` run (other settings, so another key) from
    writing over the shards that the existing joined store still reads: they go only once the new one is joined."""
    return out.with_name(f"{out.stem}.shard{index}-of-{count}-{key[:SHARD_KEY_CHARS]}{out.suffix}")


def shard_ranges(num_samples: int, count: int) -> list[tuple[int, int]]:
    """`count` contiguous [start, stop) ranges covering 0..num_samples, sizes differing by at most one."""
    bounds = [num_samples * r // count for r in range(count + 1)]
    return list(itertools.pairwise(bounds))


def run_key(config: ExtractConfig, dataset_fingerprint: str, num_samples: int, count: int) -> str:
    """Identifies one sharded run: the settings (DataLoader workers aside), the data and the number of shards."""
    settings = {key: value for key, value in asdict(config).items() if key != "workers"}
    return short_hash("shards", settings, dataset_fingerprint, num_samples, count)


class ShardView:
    """Samples [start, stop) of a dataset, as a dataset of their own (a rank's share)."""

    def __init__(self, dataset: ImageDataset, start: int, stop: int, shard: dict[str, Any]):
        self.dataset, self.start, self.stop, self.shard = dataset, start, stop, shard
        self.name, self.split = dataset.name, dataset.split
        self.targets = dataset.targets
        if hasattr(dataset, "originals"):
            self.originals = dataset.originals
        self.pair_table = None  # pairs refer to the whole dataset: the joined store gets them (join_shards)

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        sample: dict[str, Any] = self.dataset[self.start + index]
        return sample

    def sample_id(self, index: int) -> str:
        """The id of sample `index` of the shard (for --on-error skip's list of unreadable samples)."""
        from probekit.features.skips import _sample_id

        return _sample_id(self.dataset, self.start + index)

    def describe(self) -> dict[str, Any]:
        return {**self.dataset.describe(), "shard": self.shard}

    def fingerprint(self) -> str:
        return short_hash(self.dataset.fingerprint(), self.start, self.stop)


def extract_sharded(
    config: ExtractConfig,
    out: str | Path,
    rank: Rank,
    overwrite: bool = False,
    progress: bool = True,
    check_space: bool = True,
) -> Path:
    """This rank's shard of `out`, then (rank 0) the joined store; every rank returns `out`.

    A rank whose shard fails raises its own error; rank 0 then refuses to join, naming the failed ranks, so
    `out` stays absent and the same command resumes every unfinished shard.
    """
    check_config(config)
    config = replace(config, workers=rank_workers(config.workers))
    with _process_group(config, rank):
        return _extract_shard(config, Path(out), rank, overwrite, progress, check_space)


def extract_views_sharded(
    config: ExtractConfig,
    out: str | Path,
    scales: Sequence[float],
    flip: bool,
    rank: Rank,
    overwrite: bool = False,
    progress: bool = True,
    check_space: bool = True,
) -> list[Path]:
    """`extract --scales/--flip` under torchrun: the base store and every view store, each sharded and joined
    like `extract_sharded`'s, one after another in one process group (the backbone built once per rank)."""
    from probekit.backbones import build_backbone

    check_config(config)
    config = replace(config, workers=rank_workers(config.workers))
    with _process_group(config, rank):
        backbone = build_backbone(config.backbone, config.weights, config.random_init, config.seed, impl=config.impl)
        jobs = view_jobs(config, Path(out), scales, flip, backbone.patch_size)
        return [
            _extract_shard(job.config, job.out, rank, overwrite, progress, check_space, backbone, job.dataset)
            for job in jobs
        ]


@contextlib.contextmanager
def _process_group(config: ExtractConfig, rank: Rank) -> Iterator[None]:
    """torch.distributed's process group of this job for the block: nccl on this rank's GPU, else gloo."""
    import torch
    import torch.distributed as dist

    device = _rank_device(config.device, rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=WAIT)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _extract_shard(
    config: ExtractConfig,
    out: Path,
    rank: Rank,
    overwrite: bool,
    progress: bool,
    check_space: bool,
    backbone: Backbone | None = None,
    dataset: ImageDataset | None = None,
) -> Path:
    """This rank's shard of `out` (of `dataset`, or the one `config` names), then rank 0 joins them."""
    import torch.distributed as dist

    if dataset is None:
        dataset = open_dataset(
            config.dataset, config.split, config.root, config.image_size, config.limit, config.subset_seed
        )
    if len(dataset) < rank.world:
        raise DatasetError(
            f"{config.dataset} split {config.split!r} has {len(dataset)} samples, fewer than the "
            f"{rank.world} ranks: run with fewer processes"
        )
    key = run_key(config, dataset.fingerprint(), len(dataset), rank.world)
    state = [_out_state(out, key, overwrite) if rank.rank == 0 else ""]
    dist.broadcast_object_list(state, src=0)
    if state[0] == "done":
        if rank.rank == 0:
            log.info("%s is complete already with these settings; pass --overwrite to extract again", out)
        return out
    if state[0] != "go":
        if rank.rank == 0:
            raise StoreError(state[0])
        raise SystemExit(2)  # rank 0 says why
    ranges = shard_ranges(len(dataset), rank.world)
    start, stop = ranges[rank.rank]
    shard = {"index": rank.rank, "count": rank.world, "start": start, "stop": stop, "run": key}
    failure: BaseException | None = None
    try:
        extract(
            config,
            shard_path(out, rank.rank, rank.world, key),
            overwrite,
            progress=progress and rank.rank == 0,
            backbone=backbone,
            dataset=ShardView(dataset, start, stop, shard),
            check_space=check_space,
        )
    except ProbekitError as error:
        failure = error
    failures: list[str | None] = [None] * rank.world
    dist.all_gather_object(failures, None if failure is None else str(failure))  # every rank waits here
    if failure is not None:
        # torch.distributed, torch or HDF5 state left by the failed extraction can abort (SIGABRT) in the
        # interpreter's shutdown: the error is printed and the process exits at once (as after HDF5 failures)
        failure.exit_now = True  # type: ignore[attr-defined]
        raise failure
    failed = [r for r, message in enumerate(failures) if message is not None]
    if failed:
        if rank.rank != 0:
            return out
        raise StoreError(
            f"{out} not joined: rank(s) {', '.join(map(str, failed))} failed (their errors are above); "
            f"fix that and re-run the same command to resume the unfinished shards"
        )
    joined, join_error = out, None
    if rank.rank == 0:
        try:
            joined = join_shards(
                out, [shard_path(out, r, rank.world, key) for r in range(rank.world)], dataset, key, ranges
            )
        except ProbekitError as error:
            join_error = error
    # The ranks leave together: a rank that tore its process group down while rank 0 still joined was
    # seen to abort at exit ("terminate called without an active exception", SIGABRT).
    dist.barrier()
    if join_error is not None:
        raise join_error
    return joined


def rank_workers(workers: int | None) -> int:
    """DataLoader workers of one rank: as asked, or the cores left over by this node's ranks, shared (0..8)."""
    if workers is not None:
        return workers
    ranks_here = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return min(8, max(0, (os.cpu_count() or 1) // ranks_here - 1))


def _rank_device(name: str, rank: Rank) -> Any:
    """The device of this rank: cuda:LOCAL_RANK when CUDA is asked for (or 'auto' finds it), else as named."""
    import torch

    device = resolve_device(name)
    if device.type == "cuda":
        if device.index is not None:
            raise ProbekitError(
                f"--device {name} names one GPU, but under torchrun each rank uses cuda:LOCAL_RANK: "
                f"pass --device cuda (or auto)"
            )
        count = torch.cuda.device_count()
        if rank.local >= count:
            raise ProbekitError(
                f"local rank {rank.local} has no GPU (this node has {count}): start at most {count} processes per node"
            )
        return torch.device("cuda", rank.local)
    return device


def _out_state(out: Path, key: str, overwrite: bool) -> str:
    """'done' when `out` is this run's complete joined store, 'go' to extract, else the error to raise."""
    if not out.exists():
        return "go"
    try:
        with FeatureStore(out, allow_incomplete=True) as store:
            same = store.attrs.get("resume_key") == key and bool(store.attrs.get("complete"))
    except StoreError:
        same = False
    if same and not overwrite:
        return "done"
    if overwrite:
        return "go"
    return (
        f"{out} exists with other settings (or data, or number of ranks, or is not a readable store); "
        f"pass --overwrite to replace it or choose another --out"
    )


def join_shards(
    out: Path, shards: Sequence[Path], dataset: ImageDataset, key: str, ranges: Sequence[tuple[int, int]]
) -> Path:
    """Write `out` over the complete shards of run `key` (virtual datasets, no feature data copied)."""
    with exclusive_lock(out, "--out"):
        attrs = [_shard_attrs(path, index, len(shards), key, ranges[index]) for index, path in enumerate(shards)]
        rows = [int(a["num_samples"]) for a in attrs]
        partial = partial_path(out)
        partial.unlink(missing_ok=True)
        with h5py.File(shards[0], "r") as first, h5py.File(partial, "w") as f:
            names: list[str] = []
            first.visititems(lambda name, node: names.append(name) if isinstance(node, h5py.Dataset) else None)
            for name in names:
                if name.startswith("pairs/"):
                    continue
                if first[name].dtype.kind == "O":  # variable length: ids, encoded originals (small), copied
                    _copy_rows(f, name, shards, rows, first[name])
                else:
                    _virtual(f, name, out, shards, rows, first[name])
            pairs = getattr(dataset, "pair_table", None)
            if pairs is not None:
                write_pairs(f, pairs)
            write_attrs(f, _joined_attrs(attrs, shards, rows, ranges, dataset, key))
            f.flush()
        replaced = _listed_shards(out)
        os.replace(partial, out)
        _remove_replaced(out, replaced, shards)
    log.info("joined %d shards into %s", len(shards), out)
    return out


def _listed_shards(out: Path) -> list[str]:
    """The shard file names the existing joined store at `out` reads (none for a missing or unsharded store)."""
    if not out.exists():
        return []
    try:
        with h5py.File(out, "r") as f:
            listed = read_attrs(f).get("shards") or []
    except (OSError, StoreError):
        return []
    return [str(entry["file"]) for entry in listed if isinstance(entry, dict) and "file" in entry]


def _remove_replaced(out: Path, replaced: Sequence[str], shards: Sequence[Path]) -> None:
    """Delete the shards of the store that `out` replaced (an --overwrite run), keeping the new run's ones. Only
    plain file names of this store's shard pattern beside `out` are touched, whatever the old attrs say."""
    keep = {path.name for path in shards}
    for name in replaced:
        if name in keep or Path(name).name != name or not name.startswith(f"{out.stem}.shard"):
            continue
        (out.parent / name).unlink(missing_ok=True)
        log.info("removed %s (a shard of the store --overwrite replaced)", name)


def _shard_attrs(path: Path, index: int, count: int, key: str, span: tuple[int, int]) -> dict[str, Any]:
    """A shard's attrs once it is checked to be complete and this run's shard `index`; refused otherwise."""
    with FeatureStore(path) as store:  # refuses a missing or incomplete shard in one line
        attrs = store.attrs
    expected = {"index": index, "count": count, "start": span[0], "stop": span[1], "run": key}
    if attrs.get("shard") != expected:
        raise StoreError(
            f"{path} is not shard {index} of this run (it is from another run configuration: "
            f"{attrs.get('shard')!r}); delete it or pass --overwrite"
        )
    return attrs


def _virtual(
    f: h5py.File, name: str, out: Path, shards: Sequence[Path], rows: Sequence[int], like: h5py.Dataset
) -> None:
    """Dataset `name` of `f` as the shards' datasets one after another (relative source file names)."""
    layout = h5py.VirtualLayout(shape=(sum(rows), *like.shape[1:]), dtype=like.dtype)
    begin = 0
    for path, count in zip(shards, rows, strict=True):
        source = h5py.VirtualSource(os.path.relpath(path, out.parent), name, shape=(count, *like.shape[1:]))
        layout[begin : begin + count] = source
        begin += count
    dataset = f.create_virtual_dataset(name, layout)
    write_attrs(dataset, read_attrs(like))


def _copy_rows(f: h5py.File, name: str, shards: Sequence[Path], rows: Sequence[int], like: h5py.Dataset) -> None:
    """Dataset `name` of `f` as a copy of the shards' rows one after another (variable-length data)."""
    dataset = f.create_dataset(name, shape=(sum(rows), *like.shape[1:]), dtype=like.dtype)
    write_attrs(dataset, read_attrs(like))
    vlen_bytes = h5py.check_vlen_dtype(like.dtype) not in (None, str, bytes)
    begin = 0
    for path in shards:
        with h5py.File(path, "r") as shard:
            source = shard[name]
            for lo in range(0, len(source), _JOIN_BLOCK):
                values = source[lo : lo + _JOIN_BLOCK]
                if vlen_bytes:  # h5py writes variable-length arrays one row at a time
                    for row, value in enumerate(values, begin + lo):
                        dataset[row] = value
                else:
                    dataset[begin + lo : begin + lo + len(values)] = values
            begin += len(source)


def _joined_attrs(
    attrs: Sequence[dict[str, Any]],
    shards: Sequence[Path],
    rows: Sequence[int],
    ranges: Sequence[tuple[int, int]],
    dataset: ImageDataset,
    key: str,
) -> dict[str, Any]:
    """The joined store's attrs: the shards' provenance for the whole dataset, and the shard list."""
    joined = {k: v for k, v in attrs[0].items() if k != "shard"}
    skipped = [
        dict(entry, index=int(entry["index"]) + start)
        for shard_attrs, (start, _) in zip(attrs, ranges, strict=True)
        for entry in shard_attrs.get("skipped") or []
    ]
    seconds = max(float(a.get("extract_seconds", 0.0)) for a in attrs)
    joined.update(
        {
            "num_samples": sum(rows),
            "num_done": sum(rows),
            "dataset_fingerprint": dataset.fingerprint(),
            "resume_key": key,
            ZERO_ROWS: sum(int(a.get(ZERO_ROWS, 0)) for a in attrs),
            "extract_seconds": seconds,
            "images_per_second": round(len(dataset) / max(seconds, 1e-9), 3),
            "finished": utc_now(),
            "complete": True,
            "shards": [
                {"file": path.name, "start": start, "stop": stop, "rows": count}
                for path, (start, stop), count in zip(shards, ranges, rows, strict=True)
            ],
        }
    )
    if skipped or "skipped" in joined:
        joined["skipped"] = skipped
    return joined


def launch(nproc: int, args: Sequence[str]) -> None:
    """`probekit extract --nproc N ARGS`: torchrun (standalone, N processes) running `probekit extract ARGS`."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    argv = ["--standalone", "--nproc-per-node", str(nproc), "-m", "probekit", "extract", *args]
    log.info("launching: %s -m torch.distributed.run %s", sys.executable, " ".join(argv))
    try:
        run(get_args_parser().parse_args(argv))  # type: ignore[no-untyped-call]
    except ChildFailedError as error:
        ranks = sorted(error.failures)
        raise ProbekitError(
            f"extract --nproc {nproc}: rank(s) {', '.join(map(str, ranks))} failed (their errors are above); "
            f"re-run the same command to resume"
        ) from None


__all__ = ["Rank", "extract_sharded", "extract_views_sharded", "join_shards", "launch", "rank_from_env", "shard_path"]
