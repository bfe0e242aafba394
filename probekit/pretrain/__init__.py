"""Self-supervised pretraining (DINO self-distillation) of the small backbones probekit ships."""

from probekit.pretrain.config import PretrainConfig, PretrainError, load_pretrain_config
from probekit.pretrain.trainer import pretrain

__all__ = ["PretrainConfig", "PretrainError", "load_pretrain_config", "pretrain"]
