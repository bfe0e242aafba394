"""The DPT decoder: its shapes on odd grids, its parameter count against the closed form, its input check."""

from __future__ import annotations

import pytest
import torch

from probekit.probes.heads import DPTDecoder, dpt_widths, parameter_count


def dpt_parameters(embed_dim: int, features: int, with_cls: bool) -> int:
    """Trainable parameters of DPTDecoder counted by hand: readout, reassemble, fusion, output conv."""
    d, f = embed_dim, features
    c = dpt_widths(f)
    readout = 4 * (2 * d * d + d) if with_cls else 0  # 1x1 conv [patch, CLS] -> D per layer
    project = sum(d * w + w for w in c)  # 1x1 conv D -> width
    resample = (16 * c[0] ** 2 + c[0]) + (4 * c[1] ** 2 + c[1]) + (9 * c[3] ** 2 + c[3])  # 4x, 2x, -, 1/2
    to_features = sum(9 * w * f for w in c)  # 3x3 conv, no bias
    residual_units = 7 * 2 * (9 * f * f + 2 * f)  # 4 refine + 3 skip units: two 3x3 convs (no bias) + BN each
    fusion_projects = 4 * (f * f + f)
    out = 9 * f * f + 2 * f  # 3x3 conv (no bias) + BN
    return readout + project + resample + to_features + residual_units + fusion_projects + out


def test_reassemble_widths_are_dpts_at_256_features():
    assert dpt_widths(256) == (96, 192, 384, 768)  # Ranftl et al. 2021; DINOv2 dpt_head.py post_process_channels


@pytest.mark.parametrize("with_cls", [False, True])
@pytest.mark.parametrize(("embed_dim", "features"), [(8, 16), (12, 8), (768, 256)])
def test_parameter_count_is_the_closed_form(embed_dim, features, with_cls):
    decoder = DPTDecoder(embed_dim, features, with_cls)
    assert parameter_count(decoder) == dpt_parameters(embed_dim, features, with_cls)


@pytest.mark.parametrize("with_cls", [False, True])
@pytest.mark.parametrize(("h", "w"), [(4, 4), (5, 7), (1, 3)])
def test_output_is_four_times_the_grid(h, w, with_cls):
    decoder = DPTDecoder(6, 16, with_cls)
    x = torch.randn(2, 6 * 4 * (2 if with_cls else 1), h, w)  # (B, L*D [+ L*D], h, w)
    maps = decoder.reassemble(x)
    assert [tuple(m.shape[-2:]) for m in maps] == [(4 * h, 4 * w), (2 * h, 2 * w), (h, w), ((h + 1) // 2, (w + 1) // 2)]
    assert decoder(x).shape == (2, 16, 4 * h, 4 * w)


def test_every_layer_reaches_the_output():
    """Each of the 4 layers' channels changes the output: the decoder reads all four, not the last only."""
    torch.manual_seed(0)
    decoder = DPTDecoder(4, 8).eval()
    x = torch.randn(1, 16, 3, 3)
    base = decoder(x)
    for layer in range(4):
        moved = x.clone()
        moved[:, layer * 4 : (layer + 1) * 4] += 1.0
        assert not torch.allclose(decoder(moved), base)


def test_wrong_input_width_is_refused():
    with pytest.raises(ValueError, match="32 input channels"):
        DPTDecoder(4, 8, with_cls=True)(torch.randn(1, 16, 3, 3))
