"""A readable from-scratch ViT (`vit`) and the readers that load timm, Meta DINOv2 and transformers weights into it."""
