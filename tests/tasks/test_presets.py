"""Protocol presets: shipped with the package, explicit options win, bad names and files are one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from probekit.benchmark import task_options
from probekit.cli import app
from probekit.errors import ProbekitError
from probekit.tasks.presets import known_presets, load_preset
from tests.tasks.test_guard import _segmentation_store


def test_the_shipped_presets_load_and_check():
    assert {"small-data", "dinov2-linear"} <= set(known_presets())
    for name in known_presets():
        preset = load_preset(name)
        assert preset.description and preset.sources and preset.tasks


def test_probe_with_a_preset_from_another_directory(tmp_path, monkeypatch):
    store = _segmentation_store(tmp_path / "s.h5", 24, 0)
    monkeypatch.chdir(tmp_path)  # presets are package data: no path relative to the repository
    args = ["probe", "--task", "segmentation", "--features", str(store), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*args, "--preset", "small-data", "--iters", "20", "--quiet"])
    assert result.exit_code == 0, result.output
    [path] = (tmp_path / "out").glob("segmentation__*.json")
    probe = json.loads(path.read_text())["probe"]
    assert probe["preset"] == "small-data"
    assert probe["options"]["iters"] == 20 and probe["options"]["eval_every"] == 200  # the flag wins, the rest stays
    assert probe["schedule"]["steps"] == 20


@pytest.mark.parametrize(
    ("preset", "task", "message"),
    [
        ("nope", "segmentation", "unknown preset 'nope': use one of dinov2-ade-linear, dinov2-ade-ms, dinov2-linear"),
        ("dinov2-linear", "segmentation", "preset dinov2-linear has no settings for the segmentation task"),
    ],
)
def test_bad_presets_are_one_line_errors(tmp_path, preset, task, message):
    store = _segmentation_store(tmp_path / "s.h5", 24, 0)
    args = ["probe", "--task", task, "--features", str(store), "--out", str(tmp_path), "--preset", preset]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_preset_file_is_checked_by_its_tasks(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("description: x\nsources: [y]\ntasks: {depth: {iters: 0}}\n")
    with pytest.raises(ProbekitError, match=r"mine.yaml: tasks: depth: iters must be a positive integer"):
        load_preset(str(path))
    path.write_text("description: x\ntask: {}\n")
    with pytest.raises(ProbekitError, match="write a mapping with description, sources, tasks"):
        load_preset(str(path))


def test_a_suite_task_may_name_a_preset():
    options = task_options("segmentation", {"preset": "small-data", "eval_every": 7, "dataset": "synthetic"})
    assert (options.iters, options.eval_every) == (2000, 7)
    with pytest.raises(ProbekitError, match="tasks: depth: unknown preset 'nope'"):
        task_options("depth", {"preset": "nope"})


def test_every_shipped_preset_has_a_page_listing_each_setting_with_a_source():
    """docs/presets/<name>.md exists, is linked from the index, and names every option the preset sets."""
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "presets"
    index = (docs / "README.md").read_text()
    for name in known_presets():
        page = docs / f"{name}.md"
        assert page.is_file(), f"{name} has no docs page"
        assert f"({name}.md)" in index, f"{name} is not listed in docs/presets/README.md"
        text = page.read_text()
        for options in load_preset(name).tasks.values():
            missing = [key for key in options if f"`{key}`" not in text]
            assert not missing, f"docs/presets/{name}.md does not list {missing}"
