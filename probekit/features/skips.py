"""`extract --on-error raise|skip`: what happens to a sample whose file cannot be read.

Reading happens in DataLoader workers, where an exception becomes a traceback-laden copy of itself in
the main process. So `Guarded` turns every DatasetError into an `Unreadable` marker, the collate drops
markers from the batch, and the main process decides: raise the first one as one line, or (skip) record
it in the store's `skipped` attribute and write the batch's other samples. Only UnreadableFileError
(missing, truncated, corrupt files) may be skipped; any other DatasetError (wrong annotations, say) is
a problem with the whole dataset and always raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch.utils.data import Dataset

from probekit.errors import DatasetError, ProbekitError, UnreadableFileError

ON_ERROR = ("raise", "skip")
_SHOWN = 20  # skipped samples listed by `probekit info`; the rest are counted


@dataclass(frozen=True)
class Unreadable:
    """Stands in for a sample that could not be read: which one, why, and whether it may be skipped."""

    index: int
    id: str
    error: str
    skippable: bool

    def entry(self) -> dict[str, Any]:
        """What the store records: {"index", "id", "error"}."""
        return {"index": self.index, "id": self.id, "error": self.error}


class Guarded(Dataset["Mapping[str, Any] | Unreadable"]):
    """A dataset whose failing samples come back as `Unreadable` markers instead of exceptions."""

    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Mapping[str, Any] | Unreadable:
        try:
            sample: Mapping[str, Any] = self.dataset[index]
        except DatasetError as error:
            return Unreadable(
                index, _sample_id(self.dataset, index), str(error), skippable=isinstance(error, UnreadableFileError)
            )
        return sample


def _sample_id(dataset: Any, index: int) -> str:
    """The id the sample would have had (a relative path for file datasets), else its index."""
    if hasattr(dataset, "sample_id"):
        return str(dataset.sample_id(index))
    items = getattr(dataset, "items", None)
    if items is not None and hasattr(items[index], "id"):
        return str(items[index].id)
    return str(index)


def check_on_error(on_error: str, dataset: Any) -> None:
    """Raise unless `on_error` is known and usable with this dataset."""
    if on_error not in ON_ERROR:
        raise ProbekitError(f"--on-error must be raise or skip, not {on_error!r}")
    if on_error == "skip" and getattr(dataset, "pair_table", None) is not None:
        raise ProbekitError(
            "--on-error skip cannot be used with a correspondence dataset (its pairs refer to every "
            "image): fix or remove the unreadable files and use --on-error raise"
        )


def unreadable_entries(markers: Sequence[Unreadable], on_error: str) -> list[dict[str, Any]]:
    """The store entries of a batch's unreadable samples; raises the first one unless it may be skipped."""
    for marker in markers:
        if on_error == "raise" or not marker.skippable:
            hint = " (or pass --on-error skip to leave unreadable files out of the store)" if marker.skippable else ""
            raise (UnreadableFileError if marker.skippable else DatasetError)(marker.error + hint)
    return [marker.entry() for marker in markers]


def skip_summary(skipped: Sequence[Mapping[str, Any]], total: int, path: Any) -> str:
    """One line for the end of a run: how many were skipped, the first one, and where the list is."""
    return (
        f"skipped {len(skipped)} of {total} images (unreadable): first {skipped[0]['id']} — see `probekit info {path}`"
    )


def describe_skipped(skipped: Sequence[Mapping[str, Any]]) -> list[str]:
    """Lines for `probekit info`: each skipped sample's id and error (the first _SHOWN of them)."""
    if not skipped:
        return []
    lines = ["", f"  skipped ({len(skipped)} unreadable samples left out by --on-error skip):"]
    lines += [f"    {entry['id']}: {entry['error']}" for entry in skipped[:_SHOWN]]
    if len(skipped) > _SHOWN:
        lines.append(f"    ... and {len(skipped) - _SHOWN} more (the store's `skipped` attribute lists all)")
    return lines
