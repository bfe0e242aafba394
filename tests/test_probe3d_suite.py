"""configs/suites/probe3d.yaml: a suite for a GPU node on real data, so here only checked, never run."""

from __future__ import annotations

from pathlib import Path

import pytest

from probekit.backbones import resolve_spec
from probekit.benchmark import Suite, _tasks_by_data, check_suite
from probekit.tasks import TASKS
from probekit.yamlfile import read_yaml

SUITE = Path(__file__).resolve().parent.parent / "configs" / "suites" / "probe3d.yaml"
PENDING = ("normals", "multiview")  # issue 17 items 1 and 2, written on other branches


def test_probe3d_suite_loads_once_its_tasks_exist():
    missing = [task for task in PENDING if task not in TASKS]
    if missing:
        pytest.skip(f"tasks {', '.join(missing)} are not registered on this branch yet")
    suite = Suite.load(SUITE)
    assert set(suite.tasks) == {"depth", "normals", "multiview", "correspondence"}


def test_probe3d_suite_checks_without_the_pending_tasks():
    """Everything but the pending tasks' options: keys, backbones (every name resolves), task options, data."""
    data = read_yaml(SUITE, "suite file")
    for task in PENDING:
        if task not in TASKS:
            data["tasks"].pop(task)
    check_suite(data)
    for entry in data["backbones"]:
        resolve_spec(entry["backbone"])  # an alias or a timm model name
    groups = _tasks_by_data(Suite(**data))
    datasets = {(dataset, root): [task for task, _ in tasks] for (dataset, root, _), tasks in groups.items()}
    assert datasets[("nyuv2", "data/nyuv2")][0] == "depth"
    assert datasets[("spair", "data/SPair-71k")] == ["correspondence"]


def test_a_task_may_name_its_own_root():
    suite = Suite(
        name="roots",
        backbones=[{"backbone": "test-vit"}],
        tasks={"depth": {}, "correspondence": {"dataset": "spair", "root": "/data/spair", "splits": {"train": 4}}},
        dataset="nyuv2",
        root="/data/nyu",
    )
    keys = [(dataset, root) for dataset, root, _ in _tasks_by_data(suite)]
    assert keys == [("nyuv2", "/data/nyu"), ("spair", "/data/spair")]
