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


def _suite(**keys) -> Suite:
    return Suite(**{"name": "t", "backbones": [{"backbone": "probekit-tiny"}], "tasks": {"knn": {}}, **keys})


def test_baselines_come_by_default_and_are_not_duplicated():
    from probekit.benchmark import suite_backbones

    quickstart = Suite.load(Path(__file__).parent.parent / "configs" / "suites" / "quickstart.yaml")
    before = [  # what configs/suites/quickstart.yaml listed by hand before baselines came by default
        {"backbone": "pixels-p8", "layers": "-1"},
        {"backbone": "probekit-tiny", "random_init": True},
        {"backbone": "probekit-tiny"},
    ]
    assert suite_backbones(quickstart) == before
    assert suite_backbones(_suite(backbones=before)) == before  # listed baselines are not added twice
    assert suite_backbones(_suite(baselines="none")) == [{"backbone": "probekit-tiny"}]
    assert suite_backbones(_suite(baselines=["random_init"])) == before[1:]
    seeded = [{"backbone": "probekit-tiny", "random_init": True, "seed": 3}, {"backbone": "probekit-tiny"}]
    assert suite_backbones(_suite(backbones=seeded, baselines=["random_init"])) == seeded  # any seed is its twin


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"baselines": "pixel"}, "baselines must be none or a list of pixels, random_init"),
        ({"baselines": ["trivial"]}, "baselines must be none or a list"),
        ({"image_sizes": [96, 96]}, "lists a size twice"),
        ({"image_sizes": [96, "big"]}, "image_sizes must be a list of positive integers"),
        ({"image_sizes": [], "image_size": 96}, "image_size and image_sizes both"),
    ],
)
def test_bad_suite_keys_are_one_line(tmp_path, keys, message):
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.safe_dump({"name": "x", "backbones": [{"backbone": "pixels-p8"}], "tasks": {"knn": {}}, **keys})
    )
    with pytest.raises(ProbekitError, match=message) as error:
        Suite.load(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_layers_all_sweeps_the_tasks_that_train_heads():
    from probekit.benchmark import sweep_options

    suite = _suite(layers="all")
    assert sweep_options(suite, "segmentation", {"epochs": 1}) == {"epochs": 1, "sweep_layers": "all"}
    assert sweep_options(suite, "classification", {}) == {"sweep_layers": "all"}
    assert sweep_options(suite, "correspondence", {}) == {}  # matching trains no per-layer heads
    assert sweep_options(suite, "knn", {}) == {}
    assert sweep_options(suite, "depth", {"layers": [-1]}) == {"layers": [-1]}  # the task chose its layers
    assert sweep_options(_suite(), "segmentation", {}) == {}  # last4: the task's default layers


def test_suite_sweeps_layers_at_each_image_size(tmp_path):
    import json

    suite = Suite(
        name="sizes",
        image_sizes=[32, [32, 48]],
        splits={"train": 12, "val": 6},
        layers="all",
        workers=0,
        backbones=[{"backbone": "test-vit", "random_init": True}],  # a baseline itself: nothing is added
        tasks={"classification": {"epochs": 1, "batch_size": 4, "lrs": [0.1]}},
    )
    run_suite(suite, tmp_path, progress=False)
    results = [json.loads(p.read_text()) for p in sorted((tmp_path / "results").glob("*.json"))]
    assert sorted(r["features"]["image_size"] for r in results) == [[32, 32], [32, 48]]
    for result in results:
        swept = [entry["layer"] for entry in result["layer_sweep"]]
        assert swept == list(range(result["backbone"]["depth"])) and len(result["probe"]["settings"]["layers"]) == 1
