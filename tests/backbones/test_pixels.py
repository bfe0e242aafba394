import torch

from probekit.backbones import build_backbone


def test_pixel_patches_are_the_raw_patches():
    backbone = build_backbone("pixels-p8")
    x = torch.randn(2, 3, 16, 24)  # (B, 3, 2*8, 3*8)
    out = backbone.forward_layers(x, [0], norm=True)[0]
    assert out.patch.shape == (2, 2, 3, 3 * 8 * 8)
    # patch (row 1, col 2) of image 1 is x[1, :, 8:16, 16:24] flattened channel-major
    torch.testing.assert_close(out.patch[1, 1, 2], x[1, :, 8:16, 16:24].reshape(-1))
    torch.testing.assert_close(out.mean, out.patch.mean(dim=(1, 2)))
    torch.testing.assert_close(out.cls, out.mean)
    assert backbone.global_source == "mean" and backbone.embed_dim == 192
