"""Multi-crop shapes and the batched photometric ops against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from probekit.pretrain.augment import (
    MultiCropConfig,
    colour_jitter,
    gaussian_blur,
    multi_crop,
    random_resized_crop,
    solarize,
)


def test_multi_crop_shapes_view_major():
    images = torch.randint(0, 256, (3, 40, 40, 3), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    global_crops, local_crops = multi_crop(images, MultiCropConfig(32, 16, 4), g)
    assert global_crops.shape == (2 * 3, 3, 32, 32) and global_crops.dtype == torch.float32
    assert local_crops.shape == (4 * 3, 3, 16, 16)
    assert torch.isfinite(global_crops).all()
    none = multi_crop(images, MultiCropConfig(32, 16, 0), g)[1]
    assert none.shape == (0, 3, 16, 16)


def test_full_crop_of_a_constant_image_is_that_constant():
    x = torch.full((2, 3, 20, 20), 0.25)
    out = random_resized_crop(x, 8, (1.0, 1.0))
    assert out.shape == (2, 3, 8, 8) and torch.allclose(out, torch.full_like(out, 0.25), atol=1e-6)


def test_crop_keeps_image_identity_per_row():
    # each image a different constant: every crop of row i must be image i's value
    x = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 24, 24) / 4
    out = random_resized_crop(x, 8, (0.05, 0.3), torch.Generator().manual_seed(1))
    assert torch.allclose(out.mean(dim=(1, 2, 3)), torch.arange(4.0) / 4, atol=1e-5)


def test_solarize_inverts_bright_pixels():
    x = torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1, 1)
    assert solarize(x, p=1.0).flatten().tolist() == pytest.approx([0.2, 0.5, 0.1])
    assert solarize(x, p=0.0).flatten().tolist() == pytest.approx([0.2, 0.5, 0.9])


def test_blur_preserves_constants_and_mass():
    constant = torch.full((2, 3, 9, 9), 0.3)
    assert torch.allclose(gaussian_blur(constant, 1.0, (0.5, 1.0)), constant, atol=1e-6)
    impulse = torch.zeros(1, 1, 11, 11)
    impulse[0, 0, 5, 5] = 1.0
    blurred = gaussian_blur(impulse, 1.0, (1.0, 1.0))
    assert blurred.sum().item() == pytest.approx(1.0, abs=1e-5)  # no mass reaches the border
    assert blurred[0, 0, 5, 5] < 0.2 and blurred[0, 0, 5, 6] == pytest.approx(blurred[0, 0, 6, 5].item())


def test_jitter_off_is_identity_and_grayscale_has_equal_channels():
    x = torch.rand(4, 3, 6, 6)
    assert torch.equal(colour_jitter(x, p=0.0, grayscale_p=0.0), x)
    gray = colour_jitter(x, p=0.0, grayscale_p=1.0)
    expected = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    assert torch.allclose(gray[:, 0], expected, atol=1e-6) and torch.equal(gray[:, 0], gray[:, 2])


def test_hue_rotation_keeps_grays_and_a_full_turn_is_identity():
    from probekit.pretrain.augment import _rotate_hue

    gray = torch.full((1, 3, 2, 2), 0.4)
    assert torch.allclose(_rotate_hue(gray, torch.tensor([0.1])), gray, atol=1e-6)
    x = torch.rand(2, 3, 4, 4)
    assert torch.allclose(_rotate_hue(x, torch.tensor([1.0, 0.0])), x, atol=1e-5)
    assert not torch.allclose(_rotate_hue(x, torch.tensor([0.1, 0.1])), x, atol=1e-2)
