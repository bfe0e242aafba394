"""A saved probe's predictions over every sample of a store, beside the stored truth, for tests that check the
predictions score what the results JSON reports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from probekit.features.store import FeatureStore
from probekit.report.predict import load_head, predict_store


def stored_predictions(results: Path, store: Path, target: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(prediction (1, H, W), truth (1, H, W) as stored) of each sample, from the head saved beside `results`."""
    head = load_head(results)
    val = FeatureStore(store)
    for i in range(len(val)):
        yield torch.from_numpy(predict_store(head, val, i))[None], torch.from_numpy(val.read_target(target, i, i + 1))
