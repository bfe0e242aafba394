"""Paper numbers beside ours: the shipped YAML is complete and known to probekit, bad entries are one-line errors,
runs map to the right protocol, only hub-weight runs match, and `table --published` shows the paper row and
the difference (the DINOv2 ViT-S/14 NYUd lin. 1 RMSE, 0.449)."""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from probekit.cli import app
from probekit.errors import ProbekitError
from probekit.report.published import (
    PROTOCOLS,
    is_fraction,
    load_published,
    matching_entries,
    no_match_line,
    result_protocol,
)
from probekit.report.results import RESULTS_FORMAT, write_result
from probekit.report.table import build_table, write_tables
from probekit.tasks import TASKS

REPO = Path(__file__).resolve().parents[2]
HUB = "hub:timm/vit_small_patch14_dinov2.lvd142m"


def _result(
    task: str = "depth",
    metrics: dict[str, float] | None = None,
    settings: dict[str, Any] | None = None,
    backbone: str = "dinov2-s14",
    source: str = HUB,
    dataset: str = "nyuv2",
    options: dict[str, Any] | None = None,
    preset: str | None = None,
    label: str | None = None,
) -> dict[str, Any]:
    """A results JSON as run_probe writes it, reduced to what tables and matching read."""
    return {
        "format": RESULTS_FORMAT,
        "task": task,
        "label": label or (backbone if source.startswith("hub:") else f"{backbone} (random init)"),
        "metrics": metrics if metrics is not None else {"d1": 0.86, "abs_rel": 0.13, "rmse": 0.5},
        "created": "2026-01-01",
        "trivial_baseline": {},
        "backbone": {"backbone": backbone, "weights_source": source, "depth": 12},
        "dataset": {"dataset": dataset},
        "probe": {
            "settings": settings if settings is not None else {"layers": [11], "head": "bins", "protocol": "lin"},
            "options": options or {},
            "preset": preset,
        },
    }


def test_every_entry_is_complete_known_and_sourced() -> None:
    entries = load_published()
    assert len(entries) >= 70
    for entry in entries:
        assert entry.model and entry.task in TASKS and entry.datasets and entry.source, entry
        assert entry.task in PROTOCOLS[entry.protocol][0], entry
        task = TASKS.get(entry.task)
        assert entry.metric in {c.key for c in task.columns} | set(task.main_metrics), entry
        if is_fraction(entry.task, entry.metric):
            assert 0 <= entry.value <= 1, entry  # fractions, as probekit stores them, not percent
        # a paper and its table, or a repository at a commit and its file
        assert re.search(r"Table \d+", entry.source) or re.search(r"@ [0-9a-f]{40}, \S+\.md", entry.source), entry
    anchor = [e for e in entries if (e.model, e.task, e.protocol, e.metric) == ("dinov2-s14", "depth", "lin.1", "rmse")]
    assert [(e.datasets[0], e.value) for e in anchor] == [("nyuv2-sync", 0.449), ("kitti", 3.10)]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"value": 44.3}, "value 44.3 is a percentage: probekit stores mIoU as a fraction, write 0.443"),
        ({"model": "dinov2-x14"}, "model 'dinov2-x14' is not a probekit backbone alias"),
        ({"protocol": "lin.1"}, "protocol 'lin.1' is for depth, not segmentation"),
        ({"protocol": "linear probe"}, "protocol 'linear probe' is not one of linear, knn"),
        ({"metric": "iou"}, "metric 'iou' is not one the segmentation task reports"),
        ({"dataset": "ade21k"}, "dataset ade21k is not a probekit dataset"),
        ({"source": ""}, "missing source"),
        ({"sorce": "x"}, "unknown key(s) sorce"),
        ({"value": "44"}, "value '44' is not a finite number"),
    ],
)
def test_a_bad_entry_is_one_line_naming_it(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    entry = {"model": "dinov2-s14", "task": "segmentation", "dataset": "ade20k", "protocol": "lin."}
    entry.update({"metric": "mIoU", "value": 0.443, "source": "DINOv2 paper, Table 10"}, **change)
    path = tmp_path / "published.yaml"
    import yaml

    path.write_text(yaml.safe_dump({"entries": [entry]}))
    with pytest.raises(ProbekitError) as error:
        load_published(path)
    text = str(error.value)
    assert "\n" not in text and f"{path}: entry 1 (" in text and message in text, text


def test_a_repeated_entry_is_an_error(tmp_path: Path) -> None:
    entry = {"model": "dinov2-s14", "task": "depth", "dataset": ["nyuv2-sync", "nyuv2"], "protocol": "lin.1"}
    entry.update(metric="rmse", value=0.449, source="DINOv2 paper, Table 11")
    path = tmp_path / "published.yaml"
    import yaml

    path.write_text(yaml.safe_dump({"entries": [entry, dict(entry, dataset="nyuv2")]}))
    with pytest.raises(ProbekitError, match=r"entry 2 \(.*\) repeats entry 1 for nyuv2: keep one"):
        load_published(path)


@pytest.mark.parametrize(
    "task, settings, options, preset, protocol",
    [
        ("classification", {"layers": [11]}, {}, None, "linear"),
        ("knn", {"layers": [11]}, {}, None, "knn"),
        ("segmentation", {"layers": [11], "protocol": "lin"}, {}, None, "lin."),
        ("segmentation", {"layers": [8, 9, 10, 11], "protocol": "ms"}, {"ms_scales": [0.5, 1.0, 1.5]}, None, "+ms"),
        ("segmentation", {"layers": [11], "protocol": "ms"}, {"ms_scales": [0.5, 1.0]}, None, None),  # not DINOv2's +ms
        ("segmentation", {"layers": [10, 11], "protocol": "lin"}, {}, None, None),
        ("depth", {"layers": [11], "head": "bins", "protocol": "ms"}, {"ms_scales": [1.0]}, None, "lin.1"),  # flip only
        ("depth", {"layers": [2, 5, 8, 11], "head": "bins", "protocol": "lin"}, {}, None, "lin.4"),
        ("depth", {"layers": [11], "protocol": "ms"}, {"ms_scales": [0.5, 1.0]}, None, None),
        ("depth", {"layers": [5, 8, 11], "head": "dpt"}, {}, None, "dpt"),
        ("depth", {"layers": [5, 8, 11], "head": "dpt"}, {}, "probe3d-depth", "probe3d"),
        (
            "correspondence",
            {"layers": [11], "mode": "zero-shot", "comparison": "<", "pck_reference": "bbox"},
            {},
            None,
            "probe3d",
        ),
        ("correspondence", {"layers": [11], "mode": "zero-shot", "comparison": "<="}, {}, None, "zero-shot"),
        (
            "correspondence",
            {"layers": [8], "mode": "zero-shot", "comparison": "<", "pck_reference": "bbox"},
            {},
            None,
            "zero-shot",
        ),
        ("correspondence", {"layers": [11], "mode": "infonce"}, {}, None, None),
        ("logreg", {"layers": [11]}, {}, None, None),
    ],
)
def test_settings_map_to_the_published_protocol(
    task: str, settings: dict[str, Any], options: dict[str, Any], preset: str | None, protocol: str | None
) -> None:
    assert result_protocol(_result(task, {}, settings, options=options, preset=preset)) == protocol


def test_only_the_alias_with_hub_weights_matches() -> None:
    entries = load_published()
    assert [e.value for e in matching_entries(_result(), entries)] == [0.449]
    assert matching_entries(_result(source="random-init"), entries) == []
    local = _result(source="file:/w/dinov2.pth", label="dinov2-s14 (dinov2.pth, abcdef01)")
    assert matching_entries(local, entries) == []
    assert matching_entries(_result(backbone="pixels-p14", source="none", label="pixels-p14"), entries) == []
    assert matching_entries(_result(dataset="kitti"), entries)[0].value == 3.10
    assert matching_entries(_result(dataset="synthetic"), entries) == []
    few_shot = _result("knn", {"top1": 0.3}, {"layers": [11]}, dataset="imagenet")
    assert [e.value for e in matching_entries(few_shot, entries)] == [0.79]
    assert matching_entries(dict(few_shot, few_shot={"k": 10, "seeds": [0, 1]}), entries) == []
    four = _result(settings={"layers": [2, 5, 8, 11], "head": "bins", "protocol": "lin"})
    assert [e.value for e in matching_entries(four, entries)] == [0.417]


def test_table_shows_the_paper_row_and_the_difference(tmp_path: Path) -> None:
    results = [
        _result(),  # DINOv2 ViT-S/14, NYU depth, lin. 1: RMSE 0.5 against the paper's 0.449
        _result(source="random-init", metrics={"d1": 0.4, "abs_rel": 0.4, "rmse": 1.3}),
        _result(
            backbone="pixels-p14", source="none", label="pixels-p14", metrics={"d1": 0.3, "abs_rel": 0.5, "rmse": 1.5}
        ),
    ]
    paper: list[str] = []
    header, rows = build_table(results, paper=paper)
    assert header == ["backbone", "depth δ1", "depth AbsRel", "depth RMSE"]
    assert [row[0] for row in rows] == [
        "pixels-p14",
        "dinov2-s14 (random init)",
        "dinov2-s14",
        "dinov2-s14: paper [1]",
        "dinov2-s14: ours - paper",
    ]
    assert rows[3][1:] == ["–", "–", "0.449"] and rows[4][1:] == ["–", "–", "+0.051"]
    assert paper == [
        "[1] Oquab et al. 2023, DINOv2: Learning Robust Visual Features without Supervision (TMLR 2024, "
        "arXiv:2304.07193v2), Table 11 (NYUd lin. 1, RMSE) (the paper's data: nyuv2-sync; this run's: nyuv2)"
    ]
    for i, result in enumerate(results):
        write_result(tmp_path / f"r{i}.json", result)
    markdown, _ = write_tables(tmp_path, published=True)
    assert "| dinov2-s14: paper [1] | – | – | 0.449 |" in markdown and markdown.endswith(paper[0])
    plain, _ = write_tables(tmp_path)
    assert "paper" not in plain  # without --published the table is as before


def test_percent_columns_and_metrics_beside_the_columns() -> None:
    segmentation = _result("segmentation", {"mIoU": 0.45, "pixel_accuracy": 0.8}, {"layers": [11], "protocol": "lin"})
    segmentation["dataset"] = {"dataset": "ade20k"}
    spair = _result(
        "correspondence",
        {"pck_image@0.1": 0.6, "pck_point@0.1": 0.55},
        {"layers": [11], "mode": "zero-shot", "comparison": "<", "pck_reference": "bbox"},
        backbone="dinov2-b14",
        source="hub:timm/vit_base_patch14_dinov2.lvd142m",
        dataset="spair",
    )
    paper: list[str] = []
    _, rows = build_table([segmentation, spair], paper=paper)
    by_label = {row[0]: row[1:] for row in rows}
    assert by_label["dinov2-s14: paper [2]"][:2] == ["44.3", "–"]
    assert by_label["dinov2-s14: ours - paper"][:2] == ["+0.7", "–"]  # percentage points
    assert "dinov2-b14: paper" not in " ".join(by_label)  # PCK per image: no published number
    assert paper[0] == (
        "dinov2-b14 / correspondence pck_point@0.1 (no column here): paper 56.8 [1], ours 55.0, ours - paper -1.8"
    )
    assert paper[1].startswith("[1] El Banani et al. 2024") and "pools all keypoints" in paper[1]
    assert paper[2].startswith("[2] Oquab et al. 2023") and "Table 10 (ADE20k lin.)" in paper[2]


def test_no_match_is_one_line_and_not_an_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_result(tmp_path / "r.json", _result(source="random-init"))
    with caplog.at_level(logging.INFO):
        markdown, paths = write_tables(tmp_path, published=True)
    assert paths and "paper" not in markdown
    assert [r.getMessage() for r in caplog.records if "--published" in r.getMessage()] == [no_match_line()]


def test_cli_table_published(tmp_path: Path) -> None:
    write_result(tmp_path / "r.json", _result())
    result = CliRunner().invoke(app, ["table", str(tmp_path), "--published", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "dinov2-s14: paper [1]" in result.output and "+0.051" in result.output


def test_the_published_page_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen_published_docs", REPO / "tools" / "gen_published_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (REPO / "docs" / "published.md").read_text() == module.render(), (
        "docs/published.md is stale: run `python tools/gen_published_docs.py` and commit it"
    )


def test_a_real_depth_run_maps_to_lin1_and_gets_its_paper_row(tiny_store: Path, tmp_path: Path) -> None:
    """run_probe's own JSON (settings, options, backbone keys) read by the matching; only its provenance is
    rewritten to what a hub DINOv2-S/14 run on NYU would record (tests never download weights)."""
    import json

    from probekit.tasks.run import run_probe

    options = TASKS.get("depth").parse_options({"iters": 4, "lrs": (0.01,), "n_bins": 8, "val_subset": 0})
    path = run_probe("depth", tiny_store, tmp_path, val=tiny_store, options=options, device="cpu", progress=False)
    result = json.loads(path.read_text())
    assert result_protocol(result) == "lin.1"
    assert matching_entries(result, load_published()) == []  # random init: never compared
    result["backbone"].update(backbone="dinov2-s14", weights_source=HUB)
    result.update(label="dinov2-s14", dataset=dict(result["dataset"], dataset="nyuv2-sync"))
    write_result(path, result)
    markdown, _ = write_tables(tmp_path, published=True)
    assert "| dinov2-s14: paper [1] | – | – | 0.449 |" in markdown
    assert f"| dinov2-s14: ours - paper | – | – | {result['metrics']['rmse'] - 0.449:+.3f} |" in markdown
    assert "(the paper's data" not in markdown  # nyuv2-sync is the paper's own data
