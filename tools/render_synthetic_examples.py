"""Save a PNG grid of synthetic scenes (image | depth | mask per row) to eyeball the generator.

Usage: python tools/render_synthetic_examples.py [--out synthetic_examples.png] [--count 6]
       [--seed 0] [--size 224 224] [--pair] [--no-fog]
With --pair each row shows view a | view b with the ground-truth matches drawn as lines; --no-fog renders
the same scenes without aerial perspective.
"""

from __future__ import annotations

import argparse
import dataclasses

import cv2
import numpy as np

from probekit.data.synthetic import SceneConfig, SceneSample, render_pair, render_scene

# One distinct BGR colour per mask label (0 = background in dark grey).
_PALETTE = np.array(
    [
        [40, 40, 40],
        [60, 60, 230],
        [60, 200, 60],
        [230, 120, 40],
        [40, 220, 230],
        [220, 60, 220],
        [230, 230, 60],
        [140, 80, 200],
        [80, 160, 120],
        [200, 160, 120],
        [120, 120, 250],
        [250, 250, 250],
        [90, 200, 255],
    ],
    dtype=np.uint8,
)


def depth_to_bgr(depth: np.ndarray) -> np.ndarray:
    """Colour-map z-depth (H, W) to BGR (H, W, 3); invalid (0) pixels black."""
    valid = depth > 0
    lo, hi = (depth[valid].min(), depth[valid].max()) if valid.any() else (0.0, 1.0)
    scaled = np.zeros(depth.shape, np.uint8)
    scaled[valid] = (255 * (1 - (depth[valid] - lo) / max(hi - lo, 1e-6))).astype(np.uint8)
    out = cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO)
    out[~valid] = 0
    return out


def sample_row(s: SceneSample) -> np.ndarray:
    """image | depth | mask, BGR (H, 3W, 3), with the label written on the image."""
    image = cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR)
    cv2.putText(image, f"label {s.label}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
    return np.concatenate([image, depth_to_bgr(s.depth), _PALETTE[s.mask]], axis=1)


def pair_row(seed: int, config: SceneConfig) -> np.ndarray:
    """view a | view b with correspondences drawn as coloured lines."""
    pair = render_pair(seed, config)
    a = cv2.cvtColor(pair.view_a.image, cv2.COLOR_RGB2BGR)
    b = cv2.cvtColor(pair.view_b.image, cv2.COLOR_RGB2BGR)
    row = np.concatenate([a, b], axis=1)
    w = a.shape[1]
    for k, (pa, pb) in enumerate(zip(pair.points_a, pair.points_b, strict=True)):
        colour = tuple(int(c) for c in _PALETTE[1 + k % (len(_PALETTE) - 1)])
        cv2.line(row, (int(pa[0]), int(pa[1])), (int(pb[0]) + w, int(pb[1])), colour, 1, cv2.LINE_AA)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="synthetic_examples.png")
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, nargs=2, default=(224, 224), metavar=("H", "W"))
    parser.add_argument("--pair", action="store_true")
    parser.add_argument("--no-fog", action="store_true", help="fog_probability=0 (same scenes, no haze)")
    args = parser.parse_args()
    config = SceneConfig(image_size=tuple(args.size))
    if args.no_fog:
        config = dataclasses.replace(config, fog_probability=0.0)
    seeds = range(args.seed, args.seed + args.count)
    rows = [pair_row(s, config) if args.pair else sample_row(render_scene(s, config)) for s in seeds]
    cv2.imwrite(args.out, np.concatenate(rows, axis=0))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
