"""Checking a dataset tree before reading it: one line naming what is missing and where the layout is explained."""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from probekit.errors import DatasetError

T = TypeVar("T")


def missing_paths(root: Path, relative: Iterable[str]) -> list[str]:
    """The entries of `relative` (files or directories under root) that do not exist."""
    return [rel for rel in relative if not (root / rel).exists()]


def read_list_text(path: Path) -> str:
    """A list file's text: UTF-8 (a BOM is dropped) or UTF-16 with its BOM, else a DatasetError naming file:line.

    A NUL byte is refused too: it means a binary file or UTF-16 without a BOM, never a list of names.
    """
    data = path.read_bytes()
    encoding = "utf-16" if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DatasetError(
            f"{path}:{line}: byte {data[error.start]:#04x} is not {error.encoding.upper()} text; save the file as UTF-8"
        ) from None
    if "\0" in text:
        line = text[: text.index("\0")].count("\n") + 1
        raise DatasetError(f"{path}:{line}: holds a NUL byte, so it is not a text list; save it as UTF-8 text")
    return text


def resolve_under(root: Path, relative: str, where: str) -> Path:
    """root/relative for a name read from a file, or a DatasetError naming `where` (file:line) when it
    is absolute or climbs out of root with `..`.

    The check is on the name, normalised, not on the resolved file: symlinks inside root are followed
    (linking a big image folder into a dataset tree is common) and root itself may be a symlink, but a
    list can never name a path outside root by itself. The normalised path is returned, so what was
    checked is what is opened.
    """
    normalised = Path(os.path.normpath(relative))  # 'a/../b' -> 'b', 'a/../../b' -> '../b'
    if normalised.is_absolute() or normalised.parts[:1] == ("..",):
        raise DatasetError(f"{where}: path {relative!r} is outside {root}; list paths relative to it, without '..'")
    return root / normalised


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


def require_files(files: list[T], what: str, dataset: str, readme: str) -> list[T]:
    """`files` unchanged, or a DatasetError when the list is empty (never yield zero samples silently)."""
    if not files:
        raise DatasetError(f"{dataset}: found no {what}; expected layout: {readme}")
    return files
