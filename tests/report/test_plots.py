"""`probekit plot`: every plot kind renders from hand-made results JSONs (right size, not blank), and user
mistakes are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from probekit.errors import ProbekitError
from probekit.report.plots import DPI, FIGURE_SIZE, default_kinds, error_bar, plot_results, task_metric, write_plots

from .results_factory import layer_sweep, make_result, write_results


def _results() -> list[dict]:
    """Two encoders of different depth with layer sweeps at two sizes, a pixels baseline, a trivial baseline."""
    trivial = {"predictor": "majority class", "mIoU": 0.1, "pixel_accuracy": 0.5}
    runs = [make_result(backbone="pixels-p16", metrics={"mIoU": 0.2, "pixel_accuracy": 0.6}, trivial_baseline=trivial)]
    for backbone, depth in (("test-vit", 4), ("test-dinov2", 2)):
        for size, bonus in ((32, 0.0), (64, 0.05)):
            runs.append(
                make_result(
                    backbone=backbone,
                    depth=depth,
                    image_size=(size, size),
                    metrics={"mIoU": 0.3 + bonus, "pixel_accuracy": 0.8},
                    metrics_ci={"mIoU": [0.25 + bonus, 0.35 + bonus]},
                    layer_sweep=layer_sweep(depth, [0.1, 0.2, 0.3, 0.3][-depth:]),
                    trivial_baseline=trivial,
                )
            )
    return runs


def _check_image(path) -> None:
    image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    assert image.shape == (FIGURE_SIZE[1] * DPI, FIGURE_SIZE[0] * DPI, 3)
    assert image.std() > 10  # not blank: axes, bars and lines
    assert path.with_suffix(".svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("kind", ["layer", "image_size", "params", "backbone"])
def test_each_kind_renders(tmp_path, kind):
    (path,) = plot_results(_results(), tmp_path, kinds=[kind], y="mIoU")
    assert path.name == f"segmentation-mIoU-by-{kind}.png"
    _check_image(path)


def test_default_set_follows_the_data(tmp_path):
    results = _results()
    assert default_kinds(results) == ["layer", "image_size", "backbone"]
    plain = [make_result(), make_result(backbone="pixels-p16")]
    assert default_kinds(plain) == ["backbone"]
    paths = write_plots(write_results(tmp_path / "results", plain))
    assert [p.name for p in paths] == ["segmentation-mIoU-by-backbone.png"]
    assert paths[0].parent == tmp_path / "results" / "plots"


def test_error_bars_from_interval_else_std():
    metric = task_metric("segmentation", "mIoU", [make_result()])
    assert metric is not None and metric.scale == 100.0
    with_ci = make_result(metrics_ci={"mIoU": [0.3, 0.5]}, metrics_std={"mIoU": 0.01})
    assert error_bar(with_ci, metric) == pytest.approx((30.0, 50.0))
    assert error_bar(make_result(metrics_std={"mIoU": 0.05}), metric) == pytest.approx((35.0, 45.0))
    assert error_bar(make_result(), metric) is None


def test_unknown_metric_is_one_line(tmp_path):
    directory = write_results(tmp_path / "r", [make_result()])
    with pytest.raises(ProbekitError, match=r"--y 'nope': no result reports that metric; .*mIoU") as error:
        write_plots(directory, y="nope")
    assert "\n" not in str(error.value)


def test_empty_or_missing_dir_is_one_line(tmp_path):
    with pytest.raises(ProbekitError, match="no probekit results JSONs in"):
        write_plots(tmp_path)
    with pytest.raises(ProbekitError, match="is not a directory of results"):
        write_plots(tmp_path / "missing")


def test_nothing_to_plot_names_what_is_missing(tmp_path):
    directory = write_results(tmp_path / "r", [make_result()])
    with pytest.raises(ProbekitError, match="layer plots need `probe --layers all` runs"):
        write_plots(directory, kinds=["layer"])


def test_cli_unknown_kind(tmp_path, capsys):
    from probekit.cli import app

    directory = write_results(tmp_path / "r", [make_result()])
    with pytest.raises(SystemExit) as exit_:
        app(["plot", str(directory), "--x", "depthwise"], standalone_mode=True)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    expected = "probekit: error: --x 'depthwise': use one of layer, image_size, params, backbone"
    assert err.strip().splitlines() == [expected]
