"""iBOT block masks for the student's global crops (DINOv2's MaskingGenerator + collate logic).

A share `probability` of the crops is masked; their mask ratios are stratified over `ratio`
(crop i of the n masked ones draws its ratio from the i-th of n equal sub-intervals), and each
mask is grown from random rectangles of random aspect ratio until it holds that many patches.
"""

from __future__ import annotations

import math
import random

import numpy as np


def block_mask(
    h: int,
    w: int,
    num_masked: int,
    rng: random.Random,
    min_patches: int = 4,
    max_patches: int | None = None,
    min_aspect: float = 0.3,
) -> np.ndarray:
    """A (h, w) bool mask of about `num_masked` patches made of rectangles (as BEiT/iBOT/DINOv2)."""
    mask = np.zeros((h, w), dtype=bool)
    max_patches = num_masked if max_patches is None else max_patches
    log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))
    count = 0
    while count < num_masked:
        budget = min(num_masked - count, max_patches)
        delta = 0
        for _ in range(10):
            area = rng.uniform(min_patches, budget)
            aspect = math.exp(rng.uniform(*log_aspect))
            bh, bw = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if bw < w and bh < h:
                top, left = rng.randint(0, h - bh), rng.randint(0, w - bw)
                block = mask[top : top + bh, left : left + bw]
                new = bh * bw - int(block.sum())
                if 0 < new <= budget:
                    block[...] = True
                    delta = new
                    break
        if delta == 0:
            break
        count += delta
    return mask


def batch_masks(
    n: int, h: int, w: int, probability: float, ratio: tuple[float, float], rng: random.Random
) -> np.ndarray:
    """(n, h*w) bool masks for n global crops: int(n * probability) of them masked, in random order."""
    tokens = h * w
    n_masked = int(n * probability)
    bounds = np.linspace(ratio[0], ratio[1], n_masked + 1)
    masks = [
        block_mask(h, w, int(tokens * rng.uniform(bounds[i], bounds[i + 1])), rng, max_patches=int(0.5 * tokens))
        for i in range(n_masked)
    ]
    masks += [np.zeros((h, w), dtype=bool)] * (n - n_masked)
    rng.shuffle(masks)
    return np.stack(masks).reshape(n, tokens)
