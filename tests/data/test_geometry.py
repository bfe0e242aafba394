"""Fitting images to the extraction size: shapes, fill values and the pixel map agree with the pixels."""

import numpy as np
import pytest

from probekit.data.geometry import PixelMap, fit_image, fit_mask, plan_fit
from probekit.errors import DatasetError


def _marked(h, w, x, y):
    """A black (h, w, 3) image with one 4x4 white block whose top-left pixel is (x, y)."""
    image = np.zeros((h, w, 3), np.uint8)
    image[y : y + 4, x : x + 4] = 255
    return image


@pytest.mark.parametrize("mode", ["crop", "pad", "stretch"])
def test_fit_shapes_and_marked_pixel_lands_where_the_map_says(mode):
    image = _marked(60, 120, 80, 30)  # block centre at (82, 32) in continuous pixels
    out, pixel_map = fit_image(image, (30, 30), mode=mode, interpolation="nearest")
    assert out.shape == (30, 30, 3)
    x, y = pixel_map.to_stored(np.array([82.0, 32.0]))
    if mode == "crop":  # 60x120 -> 30x60, centre crop of 30 columns: x offset -15
        assert (pixel_map.sx, pixel_map.sy, pixel_map.ox, pixel_map.oy) == (0.5, 0.5, -15.0, 0.0)
    assert out[int(y), int(x)].max() == 255
    np.testing.assert_allclose(pixel_map.to_original(pixel_map.to_stored(np.array([[3.0, 7.0]]))), [[3.0, 7.0]])


def test_pad_fills_image_with_zero_and_mask_with_ignore():
    mask = np.ones((10, 40), np.uint8)
    out, pixel_map = fit_mask(mask, (20, 20), mode="pad", ignore_index=255)
    assert pixel_map.oy == 7.0 and pixel_map.ox == 0.0  # 10x40 -> 5x20 centred in 20 rows
    assert (out[:7] == 255).all() and (out[7:12] == 1).all() and (out[12:] == 255).all()


def test_mask_keeps_label_values_nearest():
    mask = np.random.default_rng(0).integers(0, 5, (64, 96)).astype(np.uint8)
    out, _ = fit_mask(mask, (32, 32), mode="crop")
    assert set(np.unique(out)) <= set(np.unique(mask))


def test_identity_size_is_untouched_and_pixel_map_roundtrips_as_array():
    image = np.random.default_rng(1).integers(0, 255, (28, 42, 3)).astype(np.uint8)
    out, pixel_map = fit_image(image, (28, 42), mode="crop")
    np.testing.assert_array_equal(out, image)
    assert PixelMap.from_array(pixel_map.as_array()) == PixelMap.identity()


def test_unknown_mode_is_a_dataset_error():
    with pytest.raises(DatasetError, match="fit mode"):
        plan_fit((10, 10), (5, 5), "zoom")
