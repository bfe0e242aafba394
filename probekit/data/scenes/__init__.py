"""The procedural scenes behind probekit.data.synthetic, one concern per module:
geometry, materials, world (scene sampling), render, pairs."""
