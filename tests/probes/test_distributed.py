"""Data-parallel classification over torchrun ranks: each rank's slice of a batch, and 2 gloo ranks = 1 process."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from probekit.errors import ProbekitError
from probekit.probes.distributed import Ranks
from probekit.tasks import TASKS, run_probe
from tests.store_factory import write_store

OPTIONS = {"iters": 40, "lrs": [0.5, 5.0], "batch_size": 32, "n_blocks": [1], "pooling": ["cls", "cls+mean"]}

RANK_SCRIPT = """
import sys
from probekit.tasks import TASKS, run_probe
options = TASKS.get("classification").parse_options({options})
run_probe("classification", sys.argv[1], sys.argv[2], val=sys.argv[3], options=options, device="cpu", progress=False)
"""


@pytest.mark.parametrize("n", [0, 1, 2, 5, 32, 33])
@pytest.mark.parametrize("world", [1, 2, 3])
def test_rank_rows_split_every_batch_disjointly(n, world):
    parts = [Ranks(r, world).rows(n) for r in range(world)]
    assert parts[0][0] == 0 and parts[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))  # contiguous, disjoint, in order
    assert max(e - b for b, e in parts) - min(e - b for b, e in parts) <= 1


def test_rank_part_weights_its_share():
    arrays = {"x": np.arange(5), "label": np.arange(5) * 10}
    part, share = Ranks(1, 2).part(arrays)
    assert part["x"].tolist() == [3, 4] and part["label"].tolist() == [30, 40] and share == pytest.approx(2 / 5)
    empty, none = Ranks(1, 2).part({"x": np.arange(1)})
    assert len(empty["x"]) == 0 and none == 0


def _stores(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)) * 2

    def split(name: str, n: int) -> Path:
        labels = rng.integers(0, 4, n)
        cls = centres[labels] + rng.normal(size=(n, 16))
        patch = np.repeat(cls[:, None, None], 2, 1).repeat(2, 2) + rng.normal(size=(n, 2, 2, 16)) * 0.1
        return write_store(tmp_path / f"{name}.h5", patch, {"label": (labels, {"num_classes": 4})}, cls=cls)

    return split("train", 230), split("val", 70)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_gloo_ranks_train_the_same_heads_as_one_process(tmp_path):
    train, val = _stores(tmp_path)
    options = TASKS.get("classification").parse_options(OPTIONS)
    single = run_probe(
        "classification", train, tmp_path / "one", val=val, options=options, device="cpu", progress=False
    )

    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT.format(options=repr(OPTIONS)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port"]
    command += [str(_free_port()), str(script), str(train), str(tmp_path / "two"), str(val)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    written = list((tmp_path / "two").glob("*.json"))
    assert len(written) == 1 and written[0].name == single.name  # rank 0 alone writes, under the same run name
    one, two = json.loads(single.read_text()), json.loads(written[0].read_text())
    assert two["probe"]["settings"]["train_ranks"] == 2 and one["probe"]["settings"]["train_ranks"] == 1
    assert two["metrics"]["top1"] == one["metrics"]["top1"]
    assert two["probe"]["chosen"]["lr"] == one["probe"]["chosen"]["lr"]
    np.testing.assert_allclose(  # the same steps up to float summation order over ranks
        [h["val_score"] for h in two["probe"]["grid"]], [h["val_score"] for h in one["probe"]["grid"]], atol=1e-6
    )
    heads_two = load_file(written[0].with_suffix(".safetensors"))
    for name, weight in load_file(single.with_suffix(".safetensors")).items():
        torch.testing.assert_close(heads_two[name], weight, rtol=1e-4, atol=1e-5)


def test_tasks_that_do_not_train_over_ranks_refuse_torchrun(tmp_path, monkeypatch):
    train, val = _stores(tmp_path)
    monkeypatch.setattr("probekit.tasks.run.current_ranks", lambda: Ranks(0, 2))
    with pytest.raises(ProbekitError, match="knn task does not train over torchrun ranks"):
        run_probe("knn", train, tmp_path / "out", val=val, device="cpu", progress=False)
