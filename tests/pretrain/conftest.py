"""A tiny pretraining config: dim 32, depth 2, 32-px global crops, a 12-scene pool."""

from __future__ import annotations

import pytest

TINY_YAML = """\
model: vit_small_patch8_224
embed_dim: 32
depth: 2
num_heads: 2
pool_size: 12
pool_image_size: 40
global_size: 32
local_size: 16
local_crops: 2
head_hidden_dim: 32
head_bottleneck_dim: 16
head_prototypes: 64
batch_size: 4
workers: 1
log_every: 1
device: cpu
"""


@pytest.fixture
def tiny_config_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_YAML)
    return path
