"""The shipped result: the teacher's backbone in timm's layout as .safetensors (what DINO evaluates)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from probekit.pretrain.config import PretrainConfig


def backbone_state(vit: nn.Module, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """The timm ViT's state dict, detached, contiguous, on CPU, in `dtype`."""
    return {k: v.detach().to("cpu", dtype).contiguous() for k, v in vit.state_dict().items()}


def export_backbone(
    vit: nn.Module, config: PretrainConfig, path: str | Path, step: int, dtype: torch.dtype = torch.float16
) -> Path:
    """Write the backbone weights with the timm model name and kwargs in the file's metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    metadata = {
        "timm_model": config.model,
        "timm_kwargs": json.dumps(config.timm_kwargs()),
        "step": str(step),
        "source": "probekit pretrain (DINO teacher backbone)",
    }
    save_file(backbone_state(vit, dtype), str(partial), metadata=metadata)
    partial.chmod(0o644)  # a shipped file: readable by all (safetensors writes it 0600)
    partial.replace(path)
    return path
