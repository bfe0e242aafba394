"""`probekit backbones`: the aliases, what they are, and whether their weights are here."""

from __future__ import annotations

from typing import Annotated

import typer

from probekit.cli.common import fails_cleanly


@fails_cleanly
def backbones_command(
    test: Annotated[bool, typer.Option("--test", help="Also list the tiny random-init test configs.")] = False,
) -> None:
    """List backbone aliases with patch size (or per-stage strides), width, depth, parameters and weights status."""
    from probekit.backbones.listing import backbone_rows

    rows = backbone_rows(include_test=test)
    header = ("name", "timm model", "patch/stride", "dim", "depth", "params(M)", "weights")
    table = [header] + [
        (r.name, r.model, r.strides, str(r.embed_dim), str(r.depth), f"{r.params_m:g}", r.weights) for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    typer.echo(
        "\npatch/stride: pixels per grid cell, per stage for feature-map backbones (ConvNeXt, ResNet: the stages are "
        "the layers, dim is the last stage's).\nAny timm model name works too. Weights: 'cached' = in the local hub "
        "cache, 'not cached' = downloaded on first use (or pass --weights FILE offline)."
    )
