"""The student backbone wrapper (timm ViT + mask token) and iBOT's block masks."""

from __future__ import annotations

import random

import pytest
import torch

from probekit.pretrain.config import PretrainConfig
from probekit.pretrain.masking import batch_masks, block_mask
from probekit.pretrain.model import build_student_teacher

TINY = PretrainConfig(
    embed_dim=32,
    depth=2,
    num_heads=2,
    global_size=32,
    local_size=16,
    pool_image_size=32,
    head_hidden_dim=32,
    head_bottleneck_dim=16,
    head_prototypes=64,
    ibot=True,
    ibot_prototypes=48,
)


def test_unmasked_forward_is_timms_forward_features():
    student, _ = build_student_teacher(TINY)
    student.eval()
    x = torch.randn(2, 3, 32, 32)
    cls, patches = student.backbone(x)
    reference = student.backbone.vit.forward_features(x)  # (2, 1 + 16, 32)
    assert torch.allclose(cls, reference[:, 0], atol=1e-6) and torch.allclose(patches, reference[:, 1:], atol=1e-6)
    local_cls, local_patches = student.backbone(torch.randn(2, 3, 16, 16))  # pos-embed resampled
    assert local_cls.shape == (2, 32) and local_patches.shape == (2, 4, 32)


def test_mask_token_replaces_the_patch_embedding():
    student, _ = build_student_teacher(TINY)
    student.eval()
    with torch.no_grad():
        student.backbone.mask_token.normal_()
    everything = torch.ones(1, 16, dtype=torch.bool)
    # all patches masked: the image no longer matters, only mask token + positions
    a = student.backbone(torch.randn(1, 3, 32, 32), everything)[1]
    b = student.backbone(torch.randn(1, 3, 32, 32), everything)[1]
    assert torch.allclose(a, b, atol=1e-5)
    none = torch.zeros(1, 16, dtype=torch.bool)
    x = torch.randn(1, 3, 32, 32)
    assert torch.allclose(student.backbone(x, none)[1], student.backbone(x)[1], atol=1e-6)


def test_teacher_starts_as_a_copy_without_gradients():
    student, teacher = build_student_teacher(TINY)
    assert not any(p.requires_grad for p in teacher.parameters())
    assert not teacher.training
    for (name, s), (_, t) in zip(student.state_dict().items(), teacher.state_dict().items(), strict=True):
        assert torch.equal(s, t), name
    assert student.patch_head is student.ibot_head and student.ibot_head.last_layer.out_features == 48


def test_block_mask_counts_and_stratified_batch():
    rng = random.Random(0)
    mask = block_mask(8, 8, 20, rng, max_patches=32)
    assert mask.shape == (8, 8) and 4 <= mask.sum() <= 20
    masks = batch_masks(10, 8, 8, probability=0.5, ratio=(0.1, 0.5), rng=rng)
    assert masks.shape == (10, 64) and masks.dtype == bool
    counts = sorted(masks.sum(1).tolist())
    assert counts[:5] == [0] * 5 and all(c > 0 for c in counts[5:])  # int(10 * 0.5) masked crops
    assert max(counts) <= int(0.5 * 64)


@pytest.mark.parametrize("name", ["vit_small_patch14_reg4_dinov2"])
def test_register_models_are_refused(name):
    import timm

    from probekit.pretrain.config import PretrainError
    from probekit.pretrain.model import MaskedViT

    vit = timm.create_model(name, embed_dim=32, depth=1, num_heads=2, img_size=28, dynamic_img_size=True)
    with pytest.raises(PretrainError, match="register"):
        MaskedViT(vit)
