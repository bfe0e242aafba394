"""`probekit table DIR` with broken results files: each is named in one warning line and a footnote, never
dropped silently, never a traceback; with nothing readable left, one error line. Other JSONs are only counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probekit.cli import app
from probekit.report.results import RESULTS_FORMAT, scan_results, write_result

runner = CliRunner()
GOOD = {
    "format": RESULTS_FORMAT,
    "task": "classification",
    "label": "dinov2-s14",
    "backbone": {"backbone": "dinov2-s14"},
    "metrics": {"top1": 0.8, "mean_per_class_recall": 0.7},
    "created": "2026-01-01",
}


def _json(**changes) -> str:
    return json.dumps({k: v for k, v in {**GOOD, "label": "broken-run", **changes}.items() if v is not None})


BAD_FILES = {
    "truncated": (json.dumps(GOOD)[:70], "is not valid JSON (truncated or corrupt"),
    "empty": ("", "is empty"),
    "list": ("[1, 2]", "holds a JSON list, not a probekit results object"),
    "no-metrics": (_json(metrics=None), "misses key(s) 'metrics'"),
    "no-task": (_json(task=None), "misses key(s) 'task'"),
    "no-label": (_json(label=None), "misses key(s) 'label'"),
    "metrics-list": (_json(metrics=[0.5]), "has 'metrics' = [0.5], not a JSON object"),
    "string-metric": (_json(metrics={"top1": "0.5"}), "has metrics.top1 = '0.5', not a finite number"),
    "bool-metric": (_json(metrics={"top1": True}), "has metrics.top1 = True, not a finite number"),
    "nan-metric": (_json(metrics={"top1": float("nan")}), "has metrics.top1 = nan, not a finite number"),
    "string-baseline": (_json(trivial_baseline={"top1": "x"}), "has trivial_baseline.top1 = 'x', not a finite number"),
    "created-number": (_json(created=5), "has 'created' = 5, not a JSON string"),
    "unknown-task": (_json(task="nope"), "has task 'nope', not one of classification"),
    "other-version": (_json(format="probekit-result/2"), "has format 'probekit-result/2'"),
}


def _table(directory: Path, *options: str):
    return runner.invoke(app, ["table", str(directory), *options])


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("probekit: warning:")]


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    write_result(tmp_path / "good.json", GOOD)
    return tmp_path


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_each_broken_results_file_is_named_in_a_warning_and_a_footnote(results_dir, case):
    text, problem = BAD_FILES[case]
    bad = results_dir / f"{case}.json"
    bad.write_text(text)
    result = _table(results_dir)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    warnings = _warnings(result.stderr)
    assert len(warnings) == 1 and str(bad) in warnings[0] and problem in warnings[0], result.stderr
    table, _, note = result.stdout.partition("\n\n")
    assert "| dinov2-s14 | 80.0 | 70.0 |" in table and "broken-run" not in table
    assert note.startswith("1 results file(s) could not be read") and f"{case}.json {problem}" in note
    assert note.strip() in (results_dir / "table.md").read_text()  # the written table says so too
    assert bad.read_text() == text  # the broken file is left as it was


def test_several_broken_files_are_counted_and_each_named(results_dir):
    for case in ("truncated", "no-task"):
        (results_dir / f"{case}.json").write_text(BAD_FILES[case][0])
    result = _table(results_dir)
    assert result.exit_code == 0 and len(_warnings(result.stderr)) == 2
    note = result.stdout.partition("\n\n")[2]
    assert (
        note.startswith("2 results file(s) could not be read") and "truncated.json" in note and "no-task.json" in note
    )


def test_only_broken_files_is_one_error_line_and_no_table(tmp_path):
    for case in ("truncated", "list"):
        (tmp_path / f"{case}.json").write_text(BAD_FILES[case][0])
    result = _table(tmp_path)
    assert result.exit_code == 2 and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("probekit: error:")]
    assert len(errors) == 1 and "no readable probekit results" in errors[0] and "2 results file(s)" in errors[0]
    assert len(_warnings(result.stderr)) == 2 and result.stdout == ""
    assert not (tmp_path / "table.md").exists()


def test_other_jsons_are_ignored_and_only_counted(results_dir):
    (results_dir / "config.json").write_text(json.dumps({"lr": 0.1}))
    result = _table(results_dir)
    assert result.exit_code == 0 and not _warnings(result.stderr)
    assert "1 JSON file(s)" in result.stderr and "config.json" in result.stderr
    assert "could not be read" not in result.stdout
    quiet = _table(results_dir, "--quiet")
    assert quiet.exit_code == 0 and "config.json" not in quiet.stderr


def test_clean_directory_has_no_warning_and_no_footnote(results_dir):
    result = _table(results_dir)
    assert result.exit_code == 0 and not _warnings(result.stderr)
    assert result.stdout.strip().endswith("| dinov2-s14 | 80.0 | 70.0 |")


def test_unreadable_and_non_utf8_files_are_reported_not_raised(results_dir, monkeypatch):
    (results_dir / "latin1.json").write_bytes(b'{"label": "caf\xe9"}')
    (results_dir / "locked.json").write_text(json.dumps(GOOD))
    (results_dir / "folder.json").mkdir()
    read_text = Path.read_text

    def locked(path: Path, *args, **kwargs):
        if path.name == "locked.json":
            raise PermissionError(13, "Permission denied")
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", locked)
    scan = scan_results(results_dir)
    assert [Path(r["_path"]).name for r in scan.results] == ["good.json"]
    assert {path.name: why for path, why in scan.unreadable} == {
        "folder.json": "is not a regular file",
        "latin1.json": "is not UTF-8 text (corrupt?)",
        "locked.json": "cannot be read (Permission denied)",
    }
