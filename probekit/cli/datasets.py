"""`probekit datasets`: the registered adapters, and whether a dataset tree on disk is complete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from probekit.cli.common import fails_cleanly
from probekit.errors import DatasetError

SHOWN_PROBLEMS = 20


@fails_cleanly
def datasets_command(
    name: Annotated[str | None, typer.Argument(help="A dataset to describe or check (same as --dataset).")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="A dataset to describe or check.")] = None,
    root: Annotated[
        Path | None,
        typer.Option(help="Check the tree under DIR against the dataset's layout; exit 1 if incomplete."),
    ] = None,
) -> None:
    """List dataset adapters; with NAME --root DIR, say what the tree under DIR is missing."""
    if name and dataset and name != dataset:
        raise DatasetError(f"two datasets given ({name!r} and --dataset {dataset!r}): pass one")
    name = name or dataset
    if name is None:
        if root is not None:
            raise DatasetError("--root needs a dataset to check it against: probekit datasets NAME --root DIR")
        _list_all()
    elif root is None:
        _describe(name)
    else:
        raise typer.Exit(code=_check(name, root))


def _list_all() -> None:
    from probekit.data.registry import dataset_entries

    header = ("name", "tasks", "splits", "--root", "layout")
    table = [header] + [
        (name, ",".join(e.tasks), ",".join(e.splits) or "any", "yes" if e.needs_root else "no", e.readme)
        for name, e in sorted(dataset_entries())
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    typer.echo("\nCheck a download: probekit datasets NAME --root DIR")


def _describe(name: str) -> None:
    from probekit.data.registry import dataset_entry

    entry = dataset_entry(name)
    typer.echo(f"{name}: {entry.description}")
    typer.echo(f"  tasks: {', '.join(entry.tasks)}\n  splits: {', '.join(entry.splits)}")
    typer.echo(f"  needs --root: {'yes' if entry.needs_root else 'no'}\n  layout: {entry.readme or '-'}")
    if entry.needs_root and entry.check_layout:
        typer.echo(f"  check a download: probekit datasets {name} --root DIR")


def _check(name: str, root: Path) -> int:
    """Print whether the tree under root is complete; 0 if it is, 1 if not."""
    from probekit.data.layout import require_root
    from probekit.data.registry import dataset_entry

    entry = dataset_entry(name)
    if not entry.needs_root:
        raise DatasetError(f"dataset {name!r} is not read from disk: drop --root")
    if entry.check_layout is None:
        typer.echo(f"{name}: no layout check registered; compare {root} with {entry.readme}")
        return 0
    path = require_root(root, name, entry.readme)
    problems = entry.check_layout(path)
    if not problems:
        typer.echo(f"{name}: layout under {path} is complete")
    else:
        typer.echo(
            f"{name}: layout under {path} is incomplete ({len(problems)} missing or wrong; "
            f"expected layout: {entry.readme}):"
        )
        for problem in problems[:SHOWN_PROBLEMS]:
            typer.echo(f"  - {problem}")
        if len(problems) > SHOWN_PROBLEMS:
            typer.echo(f"  ... and {len(problems) - SHOWN_PROBLEMS} more")
    return 1 if _report_counts(name, path) or problems else 0


def _report_counts(name: str, path: Path) -> bool:
    """Print samples found per split against the official counts; True if a split falls short."""
    from probekit.data.completeness import count_splits

    counts = count_splits(name, path)
    if counts:
        typer.echo("samples per split (found of official):")
    for count in counts:
        typer.echo(f"  {'ok' if count.complete else '!!'} {count.line()}")
    return not all(count.complete for count in counts)
