import numpy as np
import pytest

from probekit.features.store import FeatureStore
from probekit.probes.stream import StoreView, count_batches, iterate_batches, strided_subset
from tests.store_factory import write_store


@pytest.fixture()
def store(tmp_path):
    N = 53
    patch = np.arange(N, dtype=np.float32)[:, None, None, None] * np.ones((1, 2, 2, 3), np.float32)
    labels = np.arange(N, dtype=np.int64)
    return FeatureStore(write_store(tmp_path / "s.h5", patch, {"label": (labels, {})}))


def _read(store, begin, end):
    return {"label": store.read_target("label", begin, end), "cls": store.read("cls", begin, end)}


def test_every_row_once_per_epoch_in_a_seeded_order(store):
    view = StoreView(store)
    batches = list(iterate_batches(view, _read, 4, shuffle=True, seed=1, epoch=3, block_batches=2))
    seen = np.concatenate([b["label"] for b in batches])
    assert sorted(seen) == list(range(53))
    assert list(seen) != list(range(53))  # shuffled
    again = np.concatenate(
        [b["label"] for b in iterate_batches(view, _read, 4, shuffle=True, seed=1, epoch=3, block_batches=2)]
    )
    np.testing.assert_array_equal(seen, again)
    other = np.concatenate(
        [b["label"] for b in iterate_batches(view, _read, 4, shuffle=True, seed=1, epoch=4, block_batches=2)]
    )
    assert list(other) != list(seen)
    for b in batches:  # rows stay aligned across arrays
        np.testing.assert_array_equal(b["cls"][:, 0], b["label"].astype(np.float32))
    assert count_batches(view, 4, block_batches=2) == len(batches)


def test_holdout_is_a_disjoint_strided_split(store):
    kept, held = StoreView(store, 10, holdout=False), StoreView(store, 10, holdout=True)
    a = np.concatenate([b["label"] for b in iterate_batches(kept, _read, 8)])
    b = np.concatenate([b["label"] for b in iterate_batches(held, _read, 8)])
    assert list(b) == [9, 19, 29, 39, 49]
    assert sorted(np.concatenate([a, b])) == list(range(53)) and len(kept) == 48 and len(held) == 5
    assert count_batches(kept, 8) == len(list(iterate_batches(kept, _read, 8)))


@pytest.mark.parametrize(
    ("view", "size", "expected"),
    [
        ("all", 10, list(range(0, 53, 6))),  # every 6th of 53 rows: 9 rows, spread over the store
        ("all", 53, list(range(53))),
        ("all", 0, list(range(53))),  # 0: all of it
        ("held", 2, [9, 39]),  # every 3rd of the 5 held-out rows 9, 19, ..., 49
        ("kept", 12, [r for r in range(53) if r % 10 != 9][::4]),  # every 4th of the 48 kept rows
    ],
)
def test_a_strided_subset_spreads_over_its_view(store, view, size, expected):
    base = {"all": StoreView(store), "held": StoreView(store, 10, True), "kept": StoreView(store, 10, False)}[view]
    subset = strided_subset(base, size)
    rows = np.concatenate([b["label"] for b in iterate_batches(subset, _read, 8)])
    assert list(rows) == expected and len(subset) == len(expected) and (not size or len(subset) <= size)
