"""The procedural scenes behind probekit.data.synthetic, one concern per module.

geometry (camera, primitives, rays), materials (classes, colours, textures), world (scene sampling),
render (one view: RGB, depth, mask, label), pairs (two views with ground-truth matches).
"""
