"""Feature-map backbones end to end: a tiny ConvNeXt, ResNet and Swin extract, probe (classification over stages of
different widths, segmentation on one stage) and appear in a table beside a ViT."""

from __future__ import annotations

import json

import pytest

from probekit.errors import ProbekitError
from probekit.features import ExtractConfig, extract
from probekit.report.table import build_table
from probekit.tasks import TASKS, run_probe

SIZE = (64, 64)
TRAIN = {"iters": 6, "lrs": (1e-2,), "batch_size": 8, "val_subset": 0}


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """{backbone: (train store, val store)} of the synthetic scenes, every layer (stage) stored."""
    root = tmp_path_factory.mktemp("maps")
    paths = {}
    for name in ("test-convnext", "test-resnet", "test-swin", "test-vit"):
        paths[name] = tuple(
            extract(
                ExtractConfig(
                    backbone=name,
                    random_init=True,
                    dataset="synthetic",
                    split=split,
                    image_size=SIZE,
                    layers="all",
                    batch_size=8,
                    workers=0,
                    limit=limit,
                ),
                root / f"{name}-{split}.h5",
                progress=False,
            )
            for split, limit in (("train", 16), ("val", 8))
        )
    return paths


def _probe(task, stores, out, **options):
    train, val = stores
    path = run_probe(task, train, out, val=val, options=TASKS.get(task).parse_options(options), progress=False)
    return json.loads(path.read_text())


def test_convnets_probe_and_sit_in_a_table_beside_a_vit(stores, tmp_path):
    results = []
    for name, paths in stores.items():
        # classification concatenates the last n stages' pooled vectors, whose widths differ (8 + 16 + 24 + 32 ...)
        results.append(_probe("classification", paths, tmp_path / name, **TRAIN))
        # segmentation on one stage: stride 8 for the convnets (8x8 cells), the ViT's last block (4x4)
        layer = -1 if name == "test-vit" else 2
        results.append(_probe("segmentation", paths, tmp_path / name, layers=(layer,), **TRAIN))
    for result in results:
        assert result["metrics"], result["task"]
    convnext = next(r for r in results if r["backbone"]["backbone"] == "test-convnext" and r["task"] == "segmentation")
    assert convnext["features"]["layer_strides"] == [4, 8, 16, 32]
    assert convnext["backbone"]["strides"] == [4, 8, 16, 32]
    assert convnext["backbone"]["global_source"] == "avgpool"
    header, rows = build_table(results)
    labels = " ".join(row[0] for row in rows)
    for name in stores:
        assert name in labels
    assert any("seg mIoU" in column for column in header) and any("cls top-1" in column for column in header)


@pytest.mark.parametrize("task", ["segmentation", "depth", "normals"])
def test_dense_task_refuses_stages_of_different_grids(stores, tmp_path, task):
    with pytest.raises(ProbekitError, match=r"patch grids differ \(0: 16x16 \(stride 4\), 3: 2x2 \(stride 32\)\)"):
        _probe(task, stores["test-convnext"], tmp_path, layers=(0, 3), **TRAIN)


def test_normals_probe_on_one_convnext_stage(stores, tmp_path):
    result = _probe("normals", stores["test-convnext"], tmp_path, layers=(2,), **TRAIN)
    assert result["metrics"]["mean_angle"] > 0 and result["metrics_ci"]["mean_angle"]
