"""Progress in logs: stderr that is not a terminal gets whole lines, one per 10% and one at the end, never '\\r'."""

from __future__ import annotations

import io

import pytest
from tqdm import tqdm

from probekit import progress
from probekit.progress import LineProgress, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_bar(
    monkeypatch: pytest.MonkeyPatch,
    stream: io.StringIO,
    total: int | None,
    steps: int,
    initial: int = 0,
    enabled: bool = True,
) -> list[str]:
    monkeypatch.setattr(progress.sys, "stderr", stream)
    bar = progress_bar(total, "extract", "img", enabled=enabled, initial=initial)  # type: ignore[arg-type]
    for _ in range(steps):
        bar.update(1)
    bar.close()
    return stream.getvalue().splitlines()


def percents(lines: list[str]) -> list[str]:
    return [line.split()[1] for line in lines]


def test_one_line_per_ten_percent_and_none_with_a_carriage_return(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    lines = run_bar(monkeypatch, stream, 100, 100)
    assert "\r" not in stream.getvalue()
    assert stream.getvalue().endswith("\n")
    assert percents(lines) == [f"{p}%" for p in range(10, 101, 10)]
    assert lines[-1].startswith("extract: 100% 100/100 img [")


def test_a_resumed_run_starts_at_its_next_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = run_bar(monkeypatch, io.StringIO(), 100, 60, initial=40)
    assert percents(lines) == ["50%", "60%", "70%", "80%", "90%", "100%"]


def test_a_run_that_stops_early_ends_with_one_line_where_it_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = run_bar(monkeypatch, io.StringIO(), 100, 45)
    assert percents(lines) == ["10%", "20%", "30%", "40%", "45%"]
    lines = run_bar(monkeypatch, io.StringIO(), 100, 50)
    assert percents(lines) == ["10%", "20%", "30%", "40%", "50%"]  # the 50% line is not repeated at close


def test_few_steps_and_unknown_totals(monkeypatch: pytest.MonkeyPatch) -> None:
    assert percents(run_bar(monkeypatch, io.StringIO(), 3, 3)) == ["33%", "66%", "100%"]
    assert run_bar(monkeypatch, io.StringIO(), None, 5) == ["extract: 5 img [00:00]"]
    assert run_bar(monkeypatch, io.StringIO(), 0, 0) == ["extract: 0 img [00:00]"]


def test_postfix_follows_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(progress.sys, "stderr", stream)
    bar = LineProgress(10, "probe", "step")
    bar.set_postfix(best="0.7500")
    bar.update(10)
    bar.close()
    assert stream.getvalue() == "probe: 100% 10/10 step [00:00, best=0.7500]\n"


def test_disabled_prints_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_bar(monkeypatch, io.StringIO(), 100, 100, enabled=False) == []
    assert run_bar(monkeypatch, Terminal(), 100, 100, enabled=False) == []


def test_a_terminal_keeps_the_live_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = Terminal()
    monkeypatch.setattr(progress.sys, "stderr", stream)
    assert isinstance(progress_bar(10, "extract", "img"), tqdm)
    assert not isinstance(progress_bar(10, "extract", "img"), LineProgress)


def test_extraction_to_a_log_has_no_carriage_returns(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """End to end: what extraction writes to a captured (non-terminal) stderr is whole lines."""
    from probekit.features import ExtractConfig, extract

    config = ExtractConfig(
        backbone="test-dinov2", random_init=True, image_size=(28, 28), layers="-1", batch_size=5, workers=0, limit=10
    )
    extract(config, tmp_path / "s.h5", progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    assert "100% 10/10 img" in err
