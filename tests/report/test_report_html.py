"""`probekit report`: the page from hand-made results JSONs (table, plots, provenance, notes), escaped."""

from __future__ import annotations

import pytest

from probekit.errors import ProbekitError
from probekit.report.html import write_report
from probekit.report.plots import write_plots

from .results_factory import make_result, write_results

HOSTILE = '<script>alert("x")</script>'


def test_page_has_table_plots_provenance_and_notes(tmp_path):
    results = [
        make_result(
            backbone="test-vit", label=f"test-vit {HOSTILE}", warnings=[{"cause": "few_steps", "message": HOSTILE}]
        ),
        make_result(backbone="pixels-p16", metrics={"mIoU": 0.1, "pixel_accuracy": 0.5}),
    ]
    page = write_report(write_results(tmp_path / "results", results), tmp_path / "report")
    text = page.read_text()
    assert page == tmp_path / "report" / "index.html"
    assert text.count("<script>") == 1  # only the page's own sorting script
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert '<table class="sortable" id="results">' in text and text.count("<tr>") == 3  # header + two runs
    assert '<img src="plots/segmentation-mIoU-by-backbone.png"' in text
    assert (tmp_path / "report" / "plots" / "segmentation-mIoU-by-backbone.png").is_file()
    assert "ab" * 32 in text and "f" * 16 in text  # weights hash and features fingerprint
    assert "few_steps" in text and "may be undertrained" in text
    # the stores these JSONs name do not exist: a visible note, not a silent gap
    assert "store test-vit-val.h5 not found beside the results or in ../features" in text
    assert "http://" not in text and "https://" not in text  # nothing fetched from elsewhere


def test_store_names_cannot_leave_the_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "secret.h5").write_text("")  # directory / "../secret.h5" would name it
    result = make_result(splits={"train": "../secret.h5", "val": "../secret.h5", "test": None})
    directory = write_results(tmp_path / "a" / "results", [result])
    from probekit.report.html import find_store

    assert find_store("../secret.h5", directory, None) is None
    assert "store ../secret.h5 not found" in write_report(directory, tmp_path / "report").read_text()


def test_mistyped_keys_do_not_break_the_page(tmp_path):
    odd = make_result(backbone="test-vit", splits=["x"], warnings="late", metrics_ci={"mIoU": "wide"})
    odd["backbone"] = "test-vit"  # a string, not the object probe writes
    directory = write_results(tmp_path / "results", [odd])
    text = write_report(directory, tmp_path / "report").read_text()
    assert "<dt>backbone</dt><dd>null</dd>" in text and "store ? not found" in text
    assert write_plots(directory, tmp_path / "plots", kinds=["params", "backbone"])  # params: left out, bars drawn


def test_empty_dir_is_one_line(tmp_path):
    with pytest.raises(ProbekitError, match="no probekit results JSONs in"):
        write_report(tmp_path, tmp_path / "report")


def test_cli_writes_the_page_and_fails_in_one_line(tmp_path, capsys):
    from probekit.cli import app

    directory = write_results(tmp_path / "results", [make_result()])
    with pytest.raises(SystemExit) as exit_:
        app(["report", str(directory), "--out", str(tmp_path / "page"), "-q"])
    assert exit_.value.code == 0 and (tmp_path / "page" / "index.html").is_file()
    assert "wrote" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        app(["report", str(tmp_path / "page"), "--out", str(tmp_path / "other")])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"probekit: error: no probekit results JSONs in {tmp_path / 'page'}: "
        f"run `probekit probe ... --out {tmp_path / 'page'}`"
    ]
