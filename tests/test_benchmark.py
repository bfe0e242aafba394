"""Benchmark suites: the shipped YAMLs load, and a tiny suite runs end to end into a table."""

from __future__ import annotations

from pathlib import Path

import pytest

from probekit.benchmark import Suite, run_suite
from probekit.errors import ProbekitError

SUITES = sorted((Path(__file__).parent.parent / "configs" / "suites").glob("*.yaml"))


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_shipped_suites_load(path):
    from probekit.tasks import TASKS

    if path.stem == "probe3d" and not {"normals", "multiview"} <= set(TASKS):
        pytest.skip("probe3d needs the normals and multiview tasks (issue 17): tests/test_probe3d_suite.py checks it")
    suite = Suite.load(path)

    assert suite.backbones and set(suite.tasks) <= set(TASKS)


def test_tiny_suite_runs_end_to_end(tmp_path):
    suite = Suite(
        name="tiny",
        image_size=[32, 48],
        splits={"train": 12, "val": 6},
        layers="-1",
        workers=0,
        backbones=[{"backbone": "pixels-p16"}, {"backbone": "test-vit", "random_init": True}],
        tasks={
            "classification": {"epochs": 2, "batch_size": 4, "lrs": [0.1]},
            "segmentation": {"epochs": 1, "batch_size": 4, "optimizer": "adamw", "lrs": [0.001]},
            "depth": {"epochs": 1, "batch_size": 4, "optimizer": "adamw", "lrs": [0.001], "n_bins": 16},
            "correspondence": {
                "dataset": "synthetic-pairs",
                "splits": {"train": 8, "val": 4},
                "projection": "infonce",
                "epochs": 1,
                "batch_size": 2,
                "lrs": [0.01],
            },
        },
    )
    table = run_suite(suite, tmp_path, progress=False)
    table_part, _, notes = table.partition("\n\n")
    lines = table_part.splitlines()
    assert lines[0].startswith("| backbone | cls top-1") and len(lines) == 2 + 3  # trivial + two backbones
    # these runs take a handful of steps: every cell is marked undertrained, with one footnote line per cell
    assert all(cell.strip().endswith("!") for line in lines[3:] for cell in line.strip("|").split("|")[1:])
    assert len([line for line in notes.splitlines() if line.startswith("! ")]) == 8
    assert lines[0].rstrip(" |").endswith("corr PCK@0.1")
    assert "| pixels-p16 |" in table and "| test-vit (random init) |" in table
    assert len(list((tmp_path / "results").glob("*.json"))) == 8
    stores = sorted(p.name for p in (tmp_path / "features").glob("*.h5"))
    # size in the name; outputs too where not all three (correspondence reads patch grids only)
    assert len(stores) == 8 and "pixels-p16-synthetic-pairs-train-32x48-n8-patch.h5" in stores
    assert "pixels-p16-synthetic-train-32x48-n12.h5" in stores
    # the suite ends with the default plot set and the HTML report, its pictures drawn from the suite's stores
    assert sorted(p.name for p in (tmp_path / "plots").glob("*.png"))[0] == "classification-top1-by-backbone.png"
    page = (tmp_path / "report" / "index.html").read_text()
    assert 'src="plots/depth-d1-by-backbone.png"' in page
    assert 'src="figures/pca-test-vit-random0-synthetic-val-32x48-n6.png"' in page
    assert len(list((tmp_path / "report" / "figures").glob("prediction-*.png"))) == 4  # seg + depth, 2 backbones
    assert len(list((tmp_path / "report" / "figures").glob("correspondence-*.png"))) == 2  # each backbone's pair
    assert "not found" not in page


def test_bad_suite_is_a_clear_error(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nbackbones: []\n")
    with pytest.raises(ProbekitError, match="needs name, backbones and tasks"):
        Suite.load(path)


def test_suite_seeds_are_forwarded_to_every_probe(tmp_path, monkeypatch):
    """`seeds:` reaches each task's options (a task's own `seeds:` wins); nothing is extracted or trained here."""
    import probekit.features
    import probekit.tasks

    calls = {}
    monkeypatch.setattr(probekit.features, "extract", lambda config, path, progress: path)
    monkeypatch.setattr(
        probekit.tasks, "run_probe", lambda task, *args, options, **kwargs: calls.setdefault(task, options)
    )
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nseeds: [0, 1, 2]\nbackbones: [{backbone: pixels-p16}]\n"
        "tasks: {classification: {iters: 5}, knn: {seeds: [7]}}\n"
    )
    run_suite(Suite.load(path), tmp_path / "out", progress=False)
    assert calls["classification"].seeds == (0, 1, 2) and calls["knn"].seeds == (7,)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("seeds: 3", "seeds must be a list of integers >= 0"),
        ("seeds: [0, 0]", "seeds must be distinct"),
    ],
)
def test_bad_suite_seeds_are_one_line(tmp_path, line, message):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\n{line}\nbackbones: [{{backbone: pixels-p16}}]\ntasks: {{knn: {{}}}}\n")
    with pytest.raises(ProbekitError, match=message):
        Suite.load(path)
