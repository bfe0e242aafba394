"""docs/scale.md's disk budgets are tools/disk_budget.py's output, and that output is the store's size formula."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _tool() -> Any:
    spec = importlib.util.spec_from_file_location("disk_budget", REPO / "tools" / "disk_budget.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["disk_budget"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_scale_page_holds_the_current_disk_budget_table() -> None:
    tool = _tool()
    assert f"{tool.BEGIN}\n{tool.table()}\n{tool.END}" in (REPO / "docs" / "scale.md").read_text(), (
        "docs/scale.md's disk budgets are stale: run `python tools/disk_budget.py --write` and commit docs/scale.md"
    )


def test_budget_counts_what_a_store_holds() -> None:
    tool = _tool()
    val = next(s for s in tool.benchmarks() if (s.dataset, s.split) == ("imagenet", "val"))
    id_bytes = 64  # probekit.features.space.ID_BYTES
    features, targets, stored = tool.split_bytes(val, 384, outputs=("cls", "mean"))
    assert features == 50_000 * (4 * 2 * 384 * 2 + id_bytes)  # 4 layers x (cls + mean) x D x float16
    assert targets == stored == 50_000 * 8  # one int64 label, not a map: stored as it is
    full, _, _ = tool.split_bytes(val, 384)
    assert full - features == 50_000 * 4 * 16 * 16 * 384 * 2  # + the 16 x 16 patch grid of each layer
    ade = next(s for s in tool.benchmarks() if (s.dataset, s.split) == ("ade20k", "val"))
    _, raw, stored = tool.split_bytes(ade, 384)
    assert stored < raw / 4  # masks are stored compressed (and the originals as PNG)
    kitti = next(s for s in tool.benchmarks() if (s.dataset, s.split) == ("kitti", "test"))
    assert kitti.targets["depth"].shape == (347, 1216)  # the KB crop's window at 224x784 (docs/datasets/kitti.md)
