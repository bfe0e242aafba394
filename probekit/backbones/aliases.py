"""The short names users type, mapped to timm models (plus tiny configs for tests and demos)."""

from typing import Any

from probekit.backbones.spec import BackboneSpec, pixels_spec, register_backbone

_PUBLIC = [
    ("dinov2-s14", "vit_small_patch14_dinov2.lvd142m", "DINOv2 ViT-S/14"),
    ("dinov2-b14", "vit_base_patch14_dinov2.lvd142m", "DINOv2 ViT-B/14"),
    ("dinov2-l14", "vit_large_patch14_dinov2.lvd142m", "DINOv2 ViT-L/14"),
    ("dinov2-g14", "vit_giant_patch14_dinov2.lvd142m", "DINOv2 ViT-g/14"),
    ("dinov2-s14-reg", "vit_small_patch14_reg4_dinov2.lvd142m", "DINOv2 ViT-S/14 + 4 registers"),
    ("dinov2-b14-reg", "vit_base_patch14_reg4_dinov2.lvd142m", "DINOv2 ViT-B/14 + 4 registers"),
    ("dinov2-l14-reg", "vit_large_patch14_reg4_dinov2.lvd142m", "DINOv2 ViT-L/14 + 4 registers"),
    ("dinov2-g14-reg", "vit_giant_patch14_reg4_dinov2.lvd142m", "DINOv2 ViT-g/14 + 4 registers"),
    ("dinov3-s16", "vit_small_patch16_dinov3.lvd1689m", "DINOv3 ViT-S/16 (RoPE, 4 registers)"),
    ("dinov3-b16", "vit_base_patch16_dinov3.lvd1689m", "DINOv3 ViT-B/16 (RoPE, 4 registers)"),
    ("dinov3-l16", "vit_large_patch16_dinov3.lvd1689m", "DINOv3 ViT-L/16 (RoPE, 4 registers)"),
    ("siglip-b16", "vit_base_patch16_siglip_224.webli", "SigLIP ViT-B/16 (no CLS: attention-pool output)"),
    ("siglip-so400m", "vit_so400m_patch14_siglip_224.webli", "SigLIP So400m/14 (no CLS: attention-pool output)"),
    ("siglip2-b16", "vit_base_patch16_siglip_224.v2_webli", "SigLIP 2 ViT-B/16 (no CLS: attention-pool output)"),
    ("siglip2-so400m", "vit_so400m_patch14_siglip_224.v2_webli", "SigLIP 2 So400m/14 (no CLS: attention-pool output)"),
    ("clip-b16", "vit_base_patch16_clip_224.openai", "OpenAI CLIP ViT-B/16 image tower"),
    ("deit-s16", "deit_small_patch16_224.fb_in1k", "DeiT-S/16, supervised ImageNet-1k"),
    ("mae-b16", "vit_base_patch16_224.mae", "MAE ViT-B/16, self-supervised"),
    ("vit-b16", "vit_base_patch16_224.augreg2_in21k_ft_in1k", "ViT-B/16, supervised IN-21k -> IN-1k"),
    ("vit-s16", "vit_small_patch16_224.augreg_in21k_ft_in1k", "ViT-S/16, supervised IN-21k -> IN-1k"),
    # Feature-map backbones: the stages are the layers, each with its own width and stride (timm_maps.py).
    ("convnext-t", "convnext_tiny.fb_in1k", "ConvNeXt-T, supervised IN-1k (stages: strides 4-32)"),
    ("convnext-b", "convnext_base.fb_in1k", "ConvNeXt-B, supervised IN-1k (stages: strides 4-32)"),
    # Probe3D's CLIP ConvNeXt: open_clip convnext_base_w, laion2b_s13b_b82k_augreg (its trunk is this timm model).
    ("convnext-b-clip", "convnext_base.clip_laion2b_augreg", "ConvNeXt-B CLIP image tower, LAION-2B (open_clip)"),
    # torchvision's original weights, the ResNet-50 that probing papers compare against (not timm's A1 recipe).
    ("resnet-50", "resnet50.tv_in1k", "ResNet-50, supervised IN-1k, torchvision weights (stem + 4 stages)"),
]

for _name, _model, _description in _PUBLIC:
    register_backbone(BackboneSpec(name=_name, model=_model, description=_description))

# Tiny configs of real architectures: the real code paths in milliseconds. Random weights only.
_TINY = dict(embed_dim=64, depth=4, num_heads=2)
_TEST: list[tuple[str, str, dict[str, Any], str]] = [
    ("test-dinov2", "vit_small_patch14_dinov2", dict(_TINY, img_size=56), "DINOv2 architecture, tiny"),
    ("test-dinov2-reg", "vit_small_patch14_reg4_dinov2", dict(_TINY, img_size=56), "DINOv2 + registers, tiny"),
    ("test-dinov3", "vit_small_patch16_dinov3", dict(_TINY, img_size=64), "DINOv3 (RoPE), tiny"),
    ("test-siglip", "vit_base_patch16_siglip_224", dict(_TINY, img_size=64), "SigLIP (attention pool), tiny"),
    ("test-vit", "vit_small_patch16_224", dict(_TINY, img_size=64), "plain ViT/16, tiny"),
    ("test-convnext", "convnext_tiny", dict(depths=(1, 1, 1, 1), dims=(8, 16, 24, 32)), "ConvNeXt, tiny"),
    ("test-resnet", "resnet18", dict(layers=(1, 1, 1, 1), channels=(8, 16, 24, 32)), "ResNet, tiny"),
    (
        "test-swin",
        "swin_tiny_patch4_window7_224",
        dict(embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1), window_size=2, img_size=64),
        "Swin, tiny",
    ),
]
for _name, _model, _kwargs, _description in _TEST:
    register_backbone(
        BackboneSpec(
            name=_name, model=_model, description=_description, kwargs=_kwargs, has_weights=False, test_only=True
        )
    )

for _patch in (8, 14, 16):
    register_backbone(pixels_spec(_patch))
register_backbone(
    BackboneSpec(
        name="pixels",
        model="pixels",
        builder="pixels",
        kwargs={"patch_size": 16},
        description="baseline: raw normalised RGB of each 16x16 patch",
        has_weights=False,
    )
)

# probekit's own learned backbone, shipped in the package (probekit/weights/): DINO-pretrained on the
# synthetic scenes with `probekit pretrain` (command, seed and log in probekit/weights/probekit-tiny.md).
register_backbone(
    BackboneSpec(
        name="probekit-tiny",
        model="vit_small_patch8_224",
        kwargs=dict(embed_dim=192, depth=6, num_heads=3, img_size=64),
        description="ViT-Ti/8 (dim 192, depth 6) DINO-pretrained on the synthetic scenes; shipped, offline",
        bundled_weights="probekit-tiny.safetensors",
    )
)
