"""Property-based fuzzing of the numeric core: metrics, label schemes, label tables and the feature-store reader.

Each test feeds random shapes, dtypes and values (NaN, ±inf, empty and zero-size batches, all-ignored pixels,
one class, huge and negative values, mismatched shapes) and asserts one of two outcomes:
- a ProbekitError subclass (MetricError, DatasetError, StoreError): the input was refused with a message, or
- a result of the right shape whose numbers are finite and in range, NaN only where the metric is undefined:
    classification  top-k and mean recall NaN iff no sample; per-class recall None iff the class never occurs
    segmentation    mIoU, aAcc, mAcc NaN iff no valid (non-ignored) pixel; per-class IoU None iff the class is
                    neither in the target nor predicted, per-class accuracy None iff not in the target
    depth           every metric NaN iff no image has a valid pixel (num_images == 0)
    PCK             pck_point / pck_image NaN iff no pair has an annotated keypoint
Anything else (IndexError, ZeroDivisionError, RuntimeError, numpy/torch ValueError) fails the test.
Valid inputs are never refused. Examples are derandomized so CI is deterministic; run with
PROBEKIT_FUZZ=explore for fresh random examples (and more of them).
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from probekit.data.base import TargetSpec
from probekit.data.csvlist import label_scheme, read_rows
from probekit.data.label_maps import LabelTable
from probekit.errors import DatasetError, MetricError, ProbekitError, StoreError
from probekit.features.store import FeatureStore, StoreLayout, StoreWriter
from probekit.metrics import (
    DEPTH_METRIC_KEYS,
    ClassificationMetrics,
    DepthMetrics,
    SegmentationMetrics,
    classification_metrics,
    depth_metrics,
    metrics_from_confusion,
    reduce_zero_label,
    segmentation_metrics,
)
from probekit.metrics.correspondence import PCKMetrics, pck_metrics

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=2000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "explore",
    derandomize=False,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILE = os.environ.get("PROBEKIT_FUZZ", "ci")


def fuzz(examples: int = 100) -> settings:
    """The settings of one fuzz test: `examples` derandomized examples in CI, 1000 fresh ones when exploring."""
    return settings(settings.get_profile(PROFILE), max_examples=examples if PROFILE == "ci" else 1000)


def outcome(call: Callable[[], Any], refusal: type[ProbekitError] = ProbekitError) -> Any | None:
    """The result of `call`, or None when it refused with a `refusal` error; any other exception propagates."""
    try:
        return call()
    except refusal as error:
        assert str(error) and "\n" not in str(error), f"refusal is not one line: {error!r}"
        return None


# -- strategies --------------------------------------------------------------------------------------
FLOATS = st.floats(width=32, allow_nan=True, allow_infinity=True)  # incl. NaN, ±inf, ±3.4e38, subnormals
FINITE = st.floats(width=32, allow_nan=False, allow_infinity=False)
FLOAT_DTYPES = (np.float16, np.float32, np.float64)
INT_DTYPES = (np.uint8, np.int32, np.int64)


@st.composite
def scores(draw, shape: tuple[int, ...]) -> torch.Tensor:
    """Float scores of any float dtype (NaN and inf included), or integer / bool scores."""
    dtype = draw(st.sampled_from(FLOAT_DTYPES + INT_DTYPES + (np.bool_,)))
    if np.issubdtype(dtype, np.floating):
        width = 16 if dtype == np.float16 else 32
        elements = (
            st.floats(width=width, allow_nan=True, allow_infinity=True)
            if draw(st.booleans())
            else st.floats(-10, 10, width=width)
        )
    else:
        elements = None
    return torch.from_numpy(draw(hnp.arrays(dtype, shape, elements=elements)))


@st.composite
def labels(draw, shape: tuple[int, ...], num_classes: int, extra: tuple[int, ...] = ()) -> torch.Tensor:
    """Integer labels, mostly in [0, num_classes) (plus `extra` values), sometimes out of range or float."""
    kind = draw(st.sampled_from(["valid", "valid", "valid", "out_of_range", "float"]))
    if kind == "float":
        return torch.from_numpy(draw(hnp.arrays(np.float32, shape, elements=st.floats(0, num_classes, width=32))))
    values = st.sampled_from(list(range(num_classes)) + list(extra))
    if kind == "out_of_range":
        values = st.one_of(values, st.integers(-3, num_classes + 3))
    return torch.from_numpy(draw(hnp.arrays(np.int64, shape, elements=values)))


def small_shape(draw, ndim: int) -> tuple[int, ...]:
    return tuple(draw(st.integers(0, 5)) for _ in range(ndim))


# -- classification ----------------------------------------------------------------------------------
def _check_classification(out: dict, num_samples: int, num_classes: int, top_k: tuple[int, ...]) -> None:
    assert out["num_samples"] == num_samples
    for k in top_k:
        if k <= num_classes:
            value = out[f"top{k}"]
            assert math.isnan(value) if num_samples == 0 else 0.0 <= value <= 1.0
    recall = out["mean_per_class_recall"]
    assert math.isnan(recall) if num_samples == 0 else 0.0 <= recall <= 1.0
    assert len(out["per_class_recall"]) == num_classes
    assert all(r is None or 0.0 <= r <= 1.0 for r in out["per_class_recall"])
    matrix = np.asarray(out["confusion_matrix"])
    assert matrix.shape == (num_classes, num_classes) and matrix.sum() == num_samples and (matrix >= 0).all()


@fuzz()
@given(st.data())
def test_classification_metrics_return_valid_numbers_or_refuse(data):
    num_classes = data.draw(st.integers(1, 6), "C")
    batch = data.draw(st.integers(0, 8), "B")
    shape = data.draw(
        st.sampled_from(
            [(batch, num_classes), (batch, num_classes), (batch, num_classes + 1), (batch,), (2, batch, num_classes)]
        ),
        "logits shape",
    )
    logits = data.draw(scores(shape), "logits")
    target = data.draw(st.one_of(labels((batch,), num_classes), labels((batch + 1,), num_classes)), "target")
    top_k = data.draw(st.sampled_from([(1, 5), (1,), (2, 3), (), (0,)]), "top_k")

    out = outcome(lambda: classification_metrics(logits, target, num_classes, top_k))
    valid = (
        shape == (batch, num_classes)
        and tuple(target.shape) == (batch,)
        and not target.is_floating_point()
        and bool(((target >= 0) & (target < num_classes)).all())
        and logits.dtype != torch.bool
        and not (logits.is_floating_point() and bool(torch.isnan(logits).any()))
        and 0 not in top_k
    )
    if out is None:
        assert not valid, "valid classification inputs were refused"
        return
    assert valid, "invalid classification inputs gave a number"
    _check_classification(out, batch, num_classes, top_k)


@fuzz(50)
@given(st.data())
def test_streaming_classification_equals_functional_over_random_batches(data):
    num_classes = data.draw(st.integers(1, 5), "C")
    sizes = data.draw(st.lists(st.integers(0, 4), max_size=4), "batch sizes")
    batches = [
        (
            torch.from_numpy(data.draw(hnp.arrays(np.float32, (b, num_classes), elements=FINITE))),
            data.draw(hnp.arrays(np.int64, (b,), elements=st.integers(0, num_classes - 1))),
        )
        for b in sizes
    ]
    metric = ClassificationMetrics(num_classes)
    for logits, target in batches:
        metric.update(logits, torch.from_numpy(target))
    out = metric.compute()
    _check_classification(out, sum(sizes), num_classes, (1, 5))
    if sizes:
        logits = torch.cat([b[0] for b in batches])
        target = torch.from_numpy(np.concatenate([b[1] for b in batches]))
        assert classification_metrics(logits, target, num_classes) == out


# -- segmentation ------------------------------------------------------------------------------------
@fuzz()
@given(st.data())
def test_segmentation_metrics_return_valid_numbers_or_refuse(data):
    num_classes = data.draw(st.integers(0, 5), "C")
    ignore = data.draw(st.sampled_from([255, 255, -1, 0]), "ignore_index")
    shape = small_shape(data.draw, data.draw(st.integers(0, 3), "ndim"))
    target = data.draw(labels(shape, max(num_classes, 1), extra=(ignore,)), "target")
    pred_shape = data.draw(st.sampled_from([shape, shape, (*shape, 1)]), "pred shape")
    pred = data.draw(labels(pred_shape, max(num_classes, 1)), "pred")

    out = outcome(lambda: segmentation_metrics(pred, target, num_classes, ignore), MetricError)
    if out is None:
        return
    keep = target != ignore
    n = int(keep.sum())
    assert out["num_pixels"] == n
    for key in ("mIoU", "pixel_accuracy", "mean_accuracy"):
        assert math.isnan(out[key]) if n == 0 else 0.0 <= out[key] <= 1.0, key
    present = set(target[keep].tolist()) | set(pred[keep].tolist())
    assert [c for c, v in enumerate(out["per_class_iou"]) if v is not None] == sorted(present)
    assert [c for c, v in enumerate(out["per_class_accuracy"]) if v is not None] == sorted(set(target[keep].tolist()))
    assert np.asarray(out["confusion_matrix"]).sum() == n


@fuzz(50)
@given(st.data())
def test_streaming_segmentation_matches_one_confusion_matrix(data):
    num_classes = data.draw(st.integers(1, 4), "C")
    metric = SegmentationMetrics(num_classes)
    preds, targets = [], []
    for shape in data.draw(st.lists(st.tuples(st.integers(0, 2), st.just(3), st.just(2)), max_size=3), "shapes"):
        targets.append(
            data.draw(
                labels(shape, num_classes, extra=(255,)).filter(
                    lambda t: not t.is_floating_point() and bool((t >= 0).all())
                )
            )
        )
        preds.append(torch.from_numpy(data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, num_classes - 1)))))
        outcome(lambda: metric.update(preds[-1], targets[-1]), MetricError)
    out = metric.compute()
    valid = [(p, t) for p, t in zip(preds, targets, strict=True) if bool(((t < num_classes) | (t == 255)).all())]
    assert out["num_pixels"] == sum(int((t != 255).sum()) for _, t in valid)


@fuzz()
@given(
    hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), elements=st.integers(-2, 20))
)
def test_metrics_from_confusion_returns_fractions_or_refuses(matrix):
    out = outcome(lambda: metrics_from_confusion(torch.from_numpy(matrix)), MetricError)
    square = matrix.ndim == 2 and matrix.shape[0] == matrix.shape[1] and matrix.size > 0
    if out is None:
        assert not square or (matrix < 0).any()
        return
    assert square and out["num_pixels"] == matrix.sum()
    for key in ("mIoU", "pixel_accuracy", "mean_accuracy"):
        assert math.isnan(out[key]) if matrix.sum() == 0 else 0.0 <= out[key] <= 1.0


@fuzz(50)
@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5)))
def test_reduce_zero_label_maps_into_classes_or_ignore(raw):
    out = reduce_zero_label(torch.from_numpy(raw))
    assert out.shape == raw.shape
    assert bool(((out == 255) == torch.from_numpy((raw == 0) | (raw == 255))).all())


# -- depth -------------------------------------------------------------------------------------------
DEPTH_FLOATS = st.one_of(FLOATS, st.floats(-5, 20, width=32), st.just(0.0))


@st.composite
def depth_maps(draw, shape: tuple[int, ...]) -> torch.Tensor:
    dtype = draw(st.sampled_from((np.float32, np.float32, np.float64, np.float16, np.int64)))
    elements = {np.float16: st.floats(width=16, allow_nan=True), np.int64: st.integers(-3, 30)}.get(dtype, DEPTH_FLOATS)
    return torch.from_numpy(draw(hnp.arrays(dtype, shape, elements=elements)))


@fuzz(150)
@given(st.data())
def test_depth_metrics_return_finite_numbers_or_refuse(data):
    batch, height, width = (
        data.draw(st.integers(0, 3), "B"),
        data.draw(st.integers(0, 4), "H"),
        data.draw(st.integers(0, 4), "W"),
    )
    shape = data.draw(st.sampled_from([(batch, height, width), (height, width), (batch, 1, height, width)]), "shape")
    pred = data.draw(depth_maps(data.draw(st.sampled_from([shape, shape, (batch, height, width + 1)]))), "pred")
    target = data.draw(depth_maps(shape), "target")
    options = dict(
        valid_mode=data.draw(st.sampled_from(["range", "positive"])),
        alignment=data.draw(st.sampled_from([None, "median", "lstsq", "lstsq_scale"])),
        clamp_pred=data.draw(st.booleans()),
        crop=data.draw(st.sampled_from([None, "eigen", "garg"])),
    )
    metric = outcome(lambda: DepthMetrics(**options))
    boxes = data.draw(
        st.one_of(
            st.none(),
            hnp.arrays(np.int64, st.tuples(st.integers(0, 3), st.sampled_from([4, 3])), elements=st.integers(-1, 5)),
        ),
        "boxes",
    )
    if outcome(lambda: metric.update(pred, target, None if boxes is None else torch.from_numpy(boxes))) is None and (
        pred.shape != target.shape or boxes is not None
    ):
        return  # refused: mismatched shapes or boxes (the other refusals are checked below)
    out = metric.compute()
    images = 1 if len(shape) == 2 else batch
    assert out["num_images"] + out["num_skipped"] in (0, images)
    for key in DEPTH_METRIC_KEYS:
        assert math.isnan(out[key]) if out["num_images"] == 0 else math.isfinite(out[key]), (key, out)
        if key.startswith("d") and out["num_images"]:
            assert 0.0 <= out[key] <= 1.0


@fuzz(100)
@given(st.data())
def test_depth_metrics_never_refuse_finite_predictions_when_clamped(data):
    shape = (data.draw(st.integers(0, 3)), data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    pred = torch.from_numpy(data.draw(hnp.arrays(np.float32, shape, elements=FINITE)))  # up to ±3.4e38
    target = torch.from_numpy(data.draw(hnp.arrays(np.float32, shape, elements=DEPTH_FLOATS)))
    alignment = data.draw(st.sampled_from([None, "median", "lstsq", "lstsq_scale"]))
    out = depth_metrics(pred, target, valid_mode=data.draw(st.sampled_from(["range", "positive"])), alignment=alignment)
    for key in DEPTH_METRIC_KEYS:
        assert math.isnan(out[key]) if out["num_images"] == 0 else math.isfinite(out[key]), (key, out)


# -- correspondence ----------------------------------------------------------------------------------
@fuzz()
@given(st.data())
def test_pck_returns_fractions_or_refuses(data):
    pairs, points = data.draw(st.integers(0, 3), "B"), data.draw(st.integers(0, 4), "K")
    pred = data.draw(hnp.arrays(np.float64, (pairs, points, 2), elements=FLOATS), "pred")
    target_shape = data.draw(
        st.sampled_from([(pairs, points, 2), (pairs, points, 2), (pairs, points + 1, 2), (pairs, points, 3)])
    )
    target = data.draw(
        hnp.arrays(np.float64, target_shape, elements=st.one_of(st.just(math.nan), st.floats(-10, 100))), "target"
    )
    reference = data.draw(
        hnp.arrays(
            np.float64,
            (data.draw(st.sampled_from([pairs, pairs, pairs + 1])),),
            elements=st.one_of(st.floats(0.5, 300), FLOATS),
        ),
        "reference",
    )
    categories = data.draw(
        st.one_of(
            st.none(),
            st.lists(st.sampled_from("ab"), min_size=pairs, max_size=pairs),
            st.lists(st.sampled_from("ab"), max_size=4),
        ),
        "categories",
    )
    alphas = data.draw(st.sampled_from([(0.01, 0.05, 0.1, 0.15), (0.1,), (), (0.0,), (math.nan,), (-1.0,)]))
    as_tensor = data.draw(st.booleans())
    args = [torch.from_numpy(a) if as_tensor else a for a in (pred, target, reference)]

    out = outcome(lambda: pck_metrics(*args, categories=categories, alphas=alphas))
    if out is None:
        return
    valid = ~np.isnan(target).any(-1)  # (B, K)
    assert out["num_points"] == valid.sum() and out["num_pairs"] == valid.any(-1).sum()
    assert out["num_pairs"] + out["num_skipped"] == pairs
    for kind, count in (("point", out["num_points"]), ("image", out["num_pairs"])):
        for alpha in alphas:
            value = out[f"pck_{kind}@{alpha:g}"]
            assert math.isnan(value) if count == 0 else 0.0 <= value <= 1.0


@fuzz(50)
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 3)), max_size=4))
def test_pck_streaming_counts_every_annotated_point(batches):
    metric = PCKMetrics()
    for pairs, points in batches:
        target = np.zeros((pairs, points, 2))
        metric.update(target + 1.0, target, np.ones(pairs) * 10, ["c"] * pairs)
    out = metric.compute()
    assert out["num_points"] == sum(p * k for p, k in batches)
    assert out["num_pairs"] == sum(p for p, k in batches if k)
    if out["num_points"]:
        assert out["pck_point@0.15"] == 1.0 and out["pck_point@0.01"] == 0.0  # distance √2 vs 0.1..1.5 px


# -- label tables and label schemes ------------------------------------------------------------------
@st.composite
def raw_labels(draw) -> np.ndarray:
    """(H, W) raw label values as a decoder could return them: uint8, wider ints (out of 0..255) or floats."""
    dtype = draw(st.sampled_from([np.uint8, np.int16, np.int64, np.float32]))
    elements = st.integers(0, 255) if dtype == np.uint8 else st.integers(-2, 300)
    return draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=4), elements=elements))


@fuzz()
@given(st.dictionaries(st.integers(-3, 300), st.integers(-3, 300), max_size=6), raw_labels())
def test_label_table_maps_raw_values_or_names_the_file(mapping, raw):
    table = outcome(lambda: LabelTable.from_mapping(mapping, "fuzz labels", "the mapped values"), DatasetError)
    if table is None:
        assert any(not (0 <= r <= 255 and -1 <= c <= 255) for r, c in mapping.items())
        return
    out = outcome(lambda: table.apply(raw, Path("label.png"), "fuzz"), DatasetError)
    if out is None:
        return
    assert out.dtype == np.uint8 and out.shape == raw.shape
    assert raw.dtype.kind in "ui"
    assert all(mapping.get(int(r), -1) == int(o) for r, o in zip(raw.ravel(), out.ravel(), strict=True))


LABEL_TEXT = st.one_of(
    st.integers(-3, 40).map(str), st.sampled_from(["cat", "dog", "007", "-", "²", " 3 ", "٣"]), st.text(max_size=4)
)


@fuzz()
@given(st.lists(LABEL_TEXT, max_size=6))
def test_label_scheme_numbers_classes_or_refuses(labels_):
    rows = [(i + 1, f"img{i}.png", label) for i, label in enumerate(labels_)]
    scheme = outcome(lambda: label_scheme(Path("train.csv"), rows), DatasetError)
    if scheme is None:
        return
    classes, numeric = scheme
    if numeric:
        assert classes == [str(k) for k in range(len(classes))]
        assert all(int(label) < len(classes) for label in labels_)
    else:
        assert classes == sorted(set(labels_))


@fuzz(50)
@given(
    st.lists(st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=6), max_size=3), max_size=5)
)
def test_read_rows_returns_two_column_rows_or_names_the_line(table):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(table)
        rows = outcome(lambda: read_rows(path), DatasetError)
    if rows is not None:
        assert all(isinstance(n, int) and isinstance(p, str) and isinstance(label, str) for n, p, label in rows)


# -- feature store reader ----------------------------------------------------------------------------
def _store(directory: Path, num_samples: int, layers: list[int], grid: tuple[int, int], dim: int) -> Path:
    """A complete store whose features encode (sample, layer) so every read can be checked."""
    path = directory / f"fuzz{num_samples}.h5"
    h, w = grid
    attrs = {
        "backbone": "fuzz",
        "embed_dim": dim,
        "depth": 12,
        "grid": list(grid),
        "layers": layers,
        "num_samples": num_samples,
        "dataset": "fuzz",
    }
    layout = StoreLayout(num_samples, layers, grid, dim, "float32", {"label": TargetSpec((), "int64", {})})
    index = np.arange(num_samples, dtype=np.float32)  # (N,)
    features = {
        k: {
            "cls": np.repeat(index[:, None] + 100 * k, dim, 1),  # (N, D)
            "mean": np.repeat(-index[:, None] - 100 * k, dim, 1),
            "patch": np.broadcast_to((index + 100 * k)[:, None, None, None], (num_samples, h, w, dim)).copy(),
        }
        for k in layers
    }
    with StoreWriter(path, layout, attrs, resume_key="fuzz") as writer:
        writer.write(0, [f"s{i}" for i in range(num_samples)], features, {"label": np.arange(num_samples)})
        writer.finish({})
    return path


SIZES = (1, 2, 5)  # a 0-sample store cannot be written (h5py refuses its (1, h, w, D) chunks)
INDEX = st.one_of(st.none(), st.integers(-8, 12), st.sampled_from([1.5, "2", True, np.int64(1)]))


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[int, FeatureStore]:
    """Stores of 1, 2 and 5 samples with layers 3 and 11 (of 12), a 2x3 grid, dim 2."""
    directory = tmp_path_factory.mktemp("fuzz_stores")
    return {n: FeatureStore(_store(directory, n, [3, 11], (2, 3), 2)) for n in SIZES}


def _resolved(layer: Any) -> int | None:
    """The stored layer `layer` names in those stores, None when it names none."""
    if layer is None:
        return 11
    if not isinstance(layer, (int, np.integer)) or isinstance(layer, bool):
        return None
    layer = int(layer) + (12 if layer < 0 else 0)
    return layer if layer in (3, 11) else None


def _span(n: int, start: Any, stop: Any) -> tuple[int, int] | None:
    ok = lambda i: isinstance(i, (int, np.integer)) and not isinstance(i, bool)  # noqa: E731
    stop = n if stop is None else stop
    return (int(start), int(stop)) if ok(start) and ok(stop) and 0 <= start <= stop <= n else None


@fuzz()
@given(
    st.sampled_from(SIZES),
    st.sampled_from(["cls", "mean", "patch", "bogus"]),
    INDEX.filter(lambda i: i is not None),
    INDEX,
    INDEX,
)
def test_store_read_returns_the_written_rows_or_refuses(stores, n, field, start, stop, layer):
    store = stores[n]
    out = outcome(lambda: store.read(field, start, stop, layer), StoreError)
    span, resolved = _span(n, start, stop), _resolved(layer)
    if out is None:
        assert field == "bogus" or span is None or resolved is None
        return
    begin, end = span
    assert out.shape == ((end - begin, 2, 3, 2) if field == "patch" else (end - begin, 2))
    sign = -1 if field == "mean" else 1
    expected = sign * (np.arange(begin, end, dtype=np.float32) + 100 * resolved)
    assert np.array_equal(out.reshape(end - begin, int(np.prod(out.shape[1:])))[:, 0], expected)


@fuzz()
@given(st.sampled_from(SIZES), INDEX, INDEX)
def test_store_sample_and_resolve_layer_agree_with_the_layout(stores, n, index, layer):
    store = stores[n]
    resolved = outcome(lambda: store.resolve_layer(layer), StoreError)
    assert resolved == _resolved(layer)
    sample = outcome(lambda: store.sample(index), StoreError)
    in_range = isinstance(index, (int, np.integer)) and not isinstance(index, bool) and -n <= index < n
    if sample is None:
        assert not in_range
        return
    assert in_range and sample["id"] == f"s{int(index) % n}"
    assert sample["layers"][3]["cls"][0] == int(index) % n + 300
    assert int(sample["targets"]["label"]) == int(index) % n


@fuzz()
@given(
    st.sampled_from(SIZES),
    st.one_of(st.integers(-1, 7), st.just(2.0)),
    st.integers(-3, 8),
    INDEX,
    st.one_of(st.none(), st.lists(INDEX, max_size=2)),
)
def test_store_iter_batches_cover_the_span_exactly_once_or_refuse(stores, n, batch_size, start, stop, layers):
    store = stores[n]
    batches = outcome(
        lambda: list(store.iter_batches(batch_size, ("cls", "patch"), layers, ("label",), start, stop)), StoreError
    )
    clipped = stop if stop is None or not isinstance(stop, int) or isinstance(stop, bool) else min(stop, n)
    span = _span(n, start, clipped)
    resolved = None if layers is None else [_resolved(k) for k in layers]
    if batches is None:
        assert (
            not isinstance(batch_size, int)
            or batch_size < 1
            or span is None
            or (resolved is not None and None in resolved)
        )
        return
    begin, end = span
    labels_ = np.concatenate([b["targets"]["label"] for b in batches]) if batches else np.zeros(0)
    assert labels_.tolist() == list(range(begin, end))
    assert all(len(b["targets"]["label"]) <= batch_size for b in batches)
    for b in batches:
        for layer, fields in b["layers"].items():
            assert np.array_equal(fields["cls"][:, 0], b["targets"]["label"] + 100 * layer)
