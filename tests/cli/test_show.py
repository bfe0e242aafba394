"""`probekit show` through CliRunner: tiny random-init backbones on synthetic scenes, image files and stores."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from probekit.cli import app
from probekit.data.synthetic import SceneConfig, render_pair
from probekit.report.viz import read_image
from probekit.tasks import TASKS, run_probe
from tests.store_factory import write_store

runner = CliRunner()
TINY = ["--backbone", "test-dinov2", "--random-init", "--image-size", "56"]


def _show(*args: str) -> object:
    return runner.invoke(app, ["show", *args])


def _ok(result) -> None:
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    """Two synthetic views of different sizes written as PNG files."""
    root = tmp_path_factory.mktemp("images")
    a = render_pair(7, SceneConfig(image_size=(60, 80))).view_a.image
    b = render_pair(7, SceneConfig(image_size=(70, 50))).view_b.image
    paths = root / "a.png", root / "b.png"
    for path, image in zip(paths, (a, b), strict=True):
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return paths


def test_correspondence_from_a_synthetic_pair(tmp_path):
    out = tmp_path / "c.png"
    result = _show("correspondence", "--synthetic", "3", *TINY, "--num-matches", "4", "--out", str(out))
    _ok(result)
    assert read_image(out).shape == (56, 56 + 8 + 56, 3)
    assert "mutual" in result.output


def test_correspondence_from_files_with_points_in_original_pixels(tmp_path, image_files):
    out = tmp_path / "c.png"
    _ok(
        _show(
            "correspondence", *map(str, image_files), *TINY, "--points", "10,10 79,59", "--gap", "4", "--out", str(out)
        )
    )
    figure = read_image(out)
    assert figure.shape == (56, 56 + 4 + 56, 3)
    # the point 10,10 of the 80 x 60 image lands at 7,9.33 of the 56 x 56 one: a dot drawn there, not the image
    fitted = cv2.resize(read_image(image_files[0]), (56, 56), interpolation=cv2.INTER_CUBIC)
    assert not (figure[9, 7] == fitted[9, 7]).all()


def test_pca_of_three_files_with_foreground_and_bilinear(tmp_path, image_files):
    out = tmp_path / "p.png"
    _ok(
        _show(
            "pca",
            *map(str, image_files),
            str(image_files[0]),
            *TINY,
            "--foreground-threshold",
            "0.3",
            "--upsample",
            "bilinear",
            "--out",
            str(out),
        )
    )
    assert read_image(out).shape == (56 + 8 + 56, 3 * 56 + 2 * 8, 3)


def test_similarity_from_the_tiny_store(tmp_path, tiny_store):
    out = tmp_path / "s.png"
    _ok(
        _show(
            "similarity",
            "--features",
            str(tiny_store),
            "--index",
            "0",
            "--index",
            "3",
            "--point",
            "20,30",
            "--out",
            str(out),
        )
    )
    assert read_image(out).shape == (56, 84 + 8 + 84, 3)


def test_correspondence_from_the_tiny_store_with_the_first_layer(tmp_path, tiny_store):
    out = tmp_path / "c.png"
    _ok(
        _show(
            "correspondence",
            "--features",
            str(tiny_store),
            "--index",
            "1",
            "--index",
            "2",
            "--layer",
            "1",
            "--out",
            str(out),
        )
    )
    assert read_image(out).shape == (56, 84 + 8 + 84, 3)


@pytest.fixture(scope="module")
def probes(tmp_path_factory, tiny_store):
    """A segmentation and a depth probe trained (briefly) on the tiny synthetic store."""
    out = tmp_path_factory.mktemp("probes")
    train = {"epochs": 1, "batch_size": 6, "optimizer": "adamw"}
    return [
        run_probe(
            task,
            tiny_store,
            out,
            val=tiny_store,
            options=TASKS.get(task).parse_options({"lrs": (1e-2,), **extra, **train}),
            progress=False,
        )
        for task, extra in (("segmentation", {}), ("depth", {"n_bins": 16}))
    ]


def test_prediction_from_the_store_and_from_a_rendered_scene(tmp_path, tiny_store, probes):
    results = [arg for path in probes for arg in ("--results", str(path))]
    out = tmp_path / "p.png"
    _ok(_show("prediction", *results, "--features", str(tiny_store), "--index", "0", "--index", "5", "--out", str(out)))
    # two rows of image | depth truth | depth probe | seg truth | seg probe, each panel with a caption strip
    assert read_image(out).shape == (2 * (14 + 56) + 8, 5 * 84 + 4 * 8, 3)
    # from a rendered scene: the backbone (test-dinov2, random init, 56x84) is rebuilt from the results JSON
    _ok(_show("prediction", *results, "--synthetic", "11", "--out", str(out)))
    assert read_image(out).shape == (14 + 56, 5 * 84 + 4 * 8, 3)
    wrong = _show("prediction", *results, "--synthetic", "11", "--backbone", "pixels-p14", "--out", str(out))
    assert wrong.exit_code == 2 and "was trained on" in wrong.output


def test_store_without_images_asks_for_image_files(tmp_path):
    store = write_store(tmp_path / "fake.h5", np.zeros((2, 3, 3, 4), np.float32), {})
    result = _show("pca", "--features", str(store), "--index", "0")
    assert result.exit_code == 2 and "pass the image files too" in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["correspondence", "--synthetic", "1", *TINY, "--points", "10,10;x"], "bad point 'x'"),
        (["similarity", "--synthetic", "1", *TINY, "--point", "56,3"], "outside"),
        (["similarity", "--synthetic", "1", "--point", "5,3"], "no backbone"),
        (["pca", "missing.png", *TINY], "does not exist"),
        (["pca", "--synthetic", "1", "--backbone", "test-dinov2", "--random-init", "--image-size", "50"], "try 56x56"),
        (["pca", *TINY], "nothing to show"),
        (["pca", "a.png", "--synthetic", "1", *TINY], "choose one input"),
        (["pca", "--synthetic", "1", *TINY, "--upsample", "cubic"], "unknown upsampling mode"),
    ],
)
def test_errors_are_one_line(args, expected):
    result = _show(*args)
    assert result.exit_code == 2, result.output
    assert expected in result.output, result.output
    assert "Traceback" not in result.output


def test_every_option_has_help():
    import typer.main

    from probekit.cli.show import show_app

    group = typer.main.get_group(show_app)
    for name, command in group.commands.items():
        for param in command.params:
            assert getattr(param, "help", None), f"show {name}: {param.name} has no help"
