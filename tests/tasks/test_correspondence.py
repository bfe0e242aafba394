"""The correspondence task end to end on tiny pair stores: oracle features transfer every keypoint, noise
does not, and a trained projection recovers matches that the raw cosine misses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.torch import load_file

from probekit.data.geometry import PixelMap, plan_fit
from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore
from probekit.probes.stream import StoreView
from probekit.tasks import TASKS, run_probe
from probekit.tasks.correspondence import pair_split
from tests.correspondence.pair_store import write_pair_store


@pytest.mark.parametrize(("kind", "expected"), [("oracle", 1.0), ("random", None)])
def test_zero_shot(tmp_path, kind, expected):
    store = write_pair_store(tmp_path / f"{kind}.h5", 8, kind)
    path = run_probe(
        "correspondence",
        store,
        tmp_path / "out",
        val=store,
        test=store,
        options=TASKS.get("correspondence").parse_options({"mutual": True, "pck_reference": "bbox"}),
        progress=False,
    )
    result = json.loads(path.read_text())
    m = result["metrics"]
    assert m["num_pairs"] == 8 and m["pck_reference"] == "bbox" and m["comparison"] == "<="
    assert set(m["per_category"]) == {"a", "b"} and result["mode"] == "zero-shot"
    if expected:  # matched cells share a code: every point lands on its target cell centre
        assert m["pck_point@0.01"] == m["pck_image@0.01"] == 1.0 and m["mutual_nn"]["fraction_mutual"] == 1.0
    else:  # 16 cells: chance is ~1/16
        assert m["pck_point@0.1"] < 0.3 and m["mutual_nn"]["fraction_mutual"] < 1.0
    assert result["trivial_baseline"]["predictor"].startswith("identity map")
    assert result["trivial_baseline"]["pck_point@0.01"] < 0.5
    intervals = result["metrics_ci"]  # bootstrap over the 8 pairs: every pair perfect collapses it
    assert set(intervals) == {"pck_image@0.1", "pck_point@0.1"}
    for key, (low, high) in intervals.items():
        assert low <= m[key] <= high and (low == high == 1.0 if expected else low < high)


def test_trained_projection_beats_the_raw_cosine(tmp_path):
    train, val, test = (
        write_pair_store(tmp_path / f"{name}.h5", n, "noisy", seed=s, noise=1.0)
        for name, n, s in (("train", 16, 0), ("val", 4, 1), ("test", 8, 2))
    )
    path = run_probe(
        "correspondence",
        train,
        tmp_path / "out",
        val=val,
        test=test,
        options=TASKS.get("correspondence").parse_options(
            {"projection": "sigmoid", "lrs": (0.1,), "epochs": 20, "batch_size": 4, "optimizer": "adamw"}
        ),
        progress=False,
    )
    result = json.loads(path.read_text())
    trained, zero_shot = result["metrics"]["pck_image@0.1"], result["zero_shot"]["pck_image@0.1"]
    assert zero_shot < 0.3 and trained > zero_shot + 0.4
    assert result["metrics_ci"]["pck_image@0.1"][0] <= trained <= result["metrics_ci"]["pck_image@0.1"][1]
    assert result["evaluated_on"] == "test" and result["probe"]["chosen"]["loss"] == "sigmoid"
    weights = load_file(str(path.with_suffix(".safetensors")))
    assert set(weights) == {"projection.linear.weight", "criterion.log_scale", "criterion.bias"}


def test_holdout_is_by_pair_and_reference_sizes(tmp_path):
    store = FeatureStore(write_pair_store(tmp_path / "s.h5", 20, "oracle"))
    kept, held = pair_split(StoreView(store, 10, holdout=False)), pair_split(StoreView(store, 10, holdout=True))
    assert held.rows.tolist() == [9, 19] and len(kept.rows) == 18
    assert kept.reference_size(0, "image") == 64.0 and kept.reference_size(0, "bbox") == 32.0
    for mode in ("crop", "pad"):  # the original size comes back from a centred fit's pixel map
        _, m = plan_fit((200, 300), (224, 224), mode)
        w0 = (224 - 2 * m.ox) / m.sx
        assert abs(w0 - 300) <= 1 / m.sx and PixelMap.identity().sx == 1.0


def test_bad_options_fail_before_work(tmp_path):
    store = write_pair_store(tmp_path / "s.h5", 2, "oracle")
    for options, expected in (
        ({"convention": "middle"}, "convention"),
        ({"projection": "triplet"}, "projection"),
        ({"window": 4}, "window"),
        ({"upsample": 0}, "upsample"),
    ):
        with pytest.raises(ProbekitError, match=expected):
            run_probe(
                "correspondence",
                store,
                tmp_path / "out",
                val=store,
                test=store,
                options=TASKS.get("correspondence").parse_options(options),
            )


def test_image_reference_uses_stored_original_sizes_when_present():

    from probekit.data.pairs import PairTable, pad_keypoints
    from probekit.tasks.correspondence import PairSplit

    kps = pad_keypoints([np.zeros((1, 2))])
    table = PairTable(
        ids=["p"],
        src=np.array([0]),
        trg=np.array([1]),
        src_kps=kps,
        trg_kps=kps,
        src_bbox=np.full((1, 4), np.nan, np.float32),
        trg_bbox=np.full((1, 4), np.nan, np.float32),
        categories=["c"],
        pck_reference="image",
    )
    # a pad fit whose offsets would not give the size back exactly; the stored size wins
    maps = np.array([[0.5, 0.5, 0.0, 3.0], [0.5, 0.5, 0.0, 3.0]])
    split = PairSplit(None, table, np.array([0]), maps, "test", original_sizes=np.array([[10, 20], [333, 500]]))
    assert split.reference_size(0, "image") == 500.0
