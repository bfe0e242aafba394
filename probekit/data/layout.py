"""Checking a dataset tree before reading it: one line naming what is missing and where the layout is explained."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from probekit.errors import DatasetError


def missing_paths(root: Path, relative: Iterable[str]) -> list[str]:
    """The entries of `relative` (files or directories under root) that do not exist."""
    return [rel for rel in relative if not (root / rel).exists()]


def require_root(root: str | Path | None, dataset: str, readme: str) -> Path:
    """`root` as a Path, or a DatasetError when it is not given or not a directory."""
    if not root:
        raise DatasetError(f"dataset {dataset!r} is read from disk: pass --root DIR (layout: {readme})")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetError(f"{dataset}: root {path} is not a directory (layout: {readme})")
    return path


def raise_missing(root: Path, missing: Sequence[str], dataset: str, readme: str) -> None:
    """A one-line DatasetError naming the first missing path under root (and how many more)."""
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DatasetError(f"{dataset}: {root / missing[0]} is missing{more}; expected layout: {readme}")


def require_paths(root: Path, relative: Iterable[str], dataset: str, readme: str) -> None:
    """Raise naming the first missing entry under root (and how many more are missing)."""
    raise_missing(root, missing_paths(root, relative), dataset, readme)


def require_files(files: list[Path], what: str, dataset: str, readme: str) -> list[Path]:
    """`files` unchanged, or a DatasetError when the list is empty (never yield zero samples silently)."""
    if not files:
        raise DatasetError(f"{dataset}: found no {what}; expected layout: {readme}")
    return files
