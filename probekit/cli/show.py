"""`probekit show`: pictures of dense features (correspondences, PCA, similarity, probe predictions) as PNG.

Inputs come from one of three places:
    image files      IMG ...  --backbone NAME       the images are fitted to --image-size, then encoded
    a feature store  --features STORE --index I ... the stored features; images re-rendered for the
                                                    synthetic datasets, otherwise given as IMG ...
    a synthetic pair --synthetic SEED --backbone NAME  both views of the synthetic pair SEED
Points are given in original image pixels (x,y) and mapped onto the fitted image.
This module only parses options and prints: the pictures are made by probekit.report.show.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from probekit.cli.common import check_output, choice, fails_cleanly, in_range, parse_size, size_option
from probekit.errors import ProbekitError

show_app = typer.Typer(
    help="Pictures of dense features: correspondences, PCA maps, similarity heat maps, probe predictions (PNG).",
    no_args_is_help=True,
)

# -- options shared by the commands ------------------------------------------------------------
Images = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Image files (PNG, JPEG, ...); not needed with --synthetic, or with --features of a synthetic dataset.",
        show_default=False,
    ),
]
Backbone = Annotated[
    str | None, typer.Option(help="Backbone alias (see `probekit backbones`) or timm name that encodes the images.")
]
Weights = Annotated[Path | None, typer.Option(help="Local .pth/.safetensors checkpoint for --backbone; no network.")]
RandomInit = Annotated[
    bool, typer.Option("--random-init", help="Seeded random weights for --backbone (the untrained baseline).")
]
Seed = Annotated[int, typer.Option(min=0, help="Seed for --random-init.")]
ImageSize = Annotated[
    str,
    typer.Option(
        callback=size_option,
        help="Size the images are fitted to before encoding: '224' or 'HxW'; a multiple of the patch size.",
    ),
]
Fit = Annotated[
    str,
    typer.Option(
        callback=choice("stretch", "crop", "pad"),
        help="How images of another shape are fitted: stretch, crop (centre) or pad.",
    ),
]
Layer = Annotated[
    int | None,
    typer.Option(
        help="Block whose patch features are shown (negative counts from the end); default: the last (stored) one."
    ),
]
Norm = Annotated[
    bool, typer.Option("--norm/--no-norm", help="Apply the backbone's final norm to the features (DINOv2 protocol).")
]
Features = Annotated[Path | None, typer.Option(help="Read the features from this store instead of running a backbone.")]
Index = Annotated[
    list[int] | None, typer.Option("--index", help="Sample index in --features (repeat for a second image).")
]
Synthetic = Annotated[
    int | None, typer.Option(min=0, help="Render the synthetic pair with this seed instead of reading images.")
]
Gap = Annotated[int, typer.Option(min=0, help="Pixels between the panels.")]


# -- parsing and printing --------------------------------------------------------------------------


def parse_point(text: str) -> tuple[float, float]:
    """'120,80' -> (120.0, 80.0): x, y in original image pixels."""
    match = re.fullmatch(r"\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*", text)
    try:
        return float(match.group(1)), float(match.group(2))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        raise ProbekitError(f"bad point {text!r}: give x,y in original image pixels, e.g. 120,80") from None


def parse_points(texts: list[str]) -> list[tuple[float, float]]:
    """Points from repeated options, each value one or more 'x,y' separated by spaces or ';'."""
    return [parse_point(part) for text in texts for part in re.split(r"[;\s]+", text.strip()) if part]


def _source(
    images: list[Path] | None,
    backbone: str | None,
    weights: Path | None,
    random_init: bool,
    seed: int,
    image_size: str,
    fit: str,
    layer: int | None,
    norm: bool,
    features: Path | None,
    index: list[int] | None,
    synthetic: int | None,
) -> Any:
    """The library's Source of the options every command shares."""
    from probekit.report.sources import Source

    return Source(
        tuple(images or ()),
        backbone,
        weights,
        random_init,
        seed,
        parse_size(image_size),
        fit,
        layer,
        norm,
        features,
        tuple(index or ()),
        synthetic,
    )


def _write(figure: Any, out: Path) -> None:
    from probekit.report.viz import write_png

    write_png(out, figure.image)
    H, W = figure.image.shape[:2]
    typer.echo(f"wrote {out} ({W}x{H}, {figure.info['summary']})", err=True)


# -- commands --------------------------------------------------------------------------------------


@show_app.command("correspondence")
@fails_cleanly
def correspondence_command(
    images: Images = None,
    points: Annotated[
        list[str] | None,
        typer.Option(
            "--points",
            help="Source points x,y in original pixels of the first image (repeat, or 'x,y x,y'); "
            "default: automatic confident matches.",
        ),
    ] = None,
    num_matches: Annotated[
        int,
        typer.Option(
            min=1, help="Automatic matches: mutual nearest neighbours, best score per region of the first image."
        ),
    ] = 12,
    backbone: Backbone = None,
    weights: Weights = None,
    random_init: RandomInit = False,
    seed: Seed = 0,
    image_size: ImageSize = "224",
    fit: Fit = "stretch",
    layer: Layer = None,
    norm: Norm = True,
    features: Features = None,
    index: Index = None,
    synthetic: Synthetic = None,
    gap: Gap = 8,
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("correspondence.png"),
) -> None:
    """Two images side by side with lines between matched patches (cosine nearest neighbours)."""
    check_output(out, "--out", directory=False)
    source_points = parse_points(points) if points else None
    from probekit.report.show import show_correspondence

    source = _source(
        images, backbone, weights, random_init, seed, image_size, fit, layer, norm, features, index, synthetic
    )
    _write(show_correspondence(source, source_points, num_matches, gap), out)


@show_app.command("pca")
@fails_cleanly
def pca_command(
    images: Images = None,
    foreground_threshold: Annotated[
        float | None,
        typer.Option(
            help="Mask the background as in DINOv2: keep patches whose first component (scaled to 0..1) is above "
            "this, refit the PCA on them."
        ),
    ] = None,
    upsample: Annotated[
        str, typer.Option(help="How the patch maps are enlarged to the image: nearest or bilinear.")
    ] = "nearest",
    backbone: Backbone = None,
    weights: Weights = None,
    random_init: RandomInit = False,
    seed: Seed = 0,
    image_size: ImageSize = "224",
    fit: Fit = "stretch",
    layer: Layer = None,
    norm: Norm = True,
    features: Features = None,
    index: Index = None,
    synthetic: Synthetic = None,
    gap: Gap = 8,
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("pca.png"),
) -> None:
    """The first three PCA components of the patch features (one fit over all images) as RGB, under the images."""
    check_output(out, "--out", directory=False)
    from probekit.report.show import show_pca

    source = _source(
        images, backbone, weights, random_init, seed, image_size, fit, layer, norm, features, index, synthetic
    )
    _write(show_pca(source, foreground_threshold, upsample, gap), out)


@show_app.command("similarity")
@fails_cleanly
def similarity_command(
    point: Annotated[str, typer.Option(help="Source point x,y in original pixels of the first image.")],
    images: Images = None,
    cmap: Annotated[str, typer.Option(help="Colour map: turbo, viridis, magma, inferno, plasma or gray.")] = "turbo",
    alpha: Annotated[
        float, typer.Option(callback=in_range(0.0, 1.0), help="Opacity of the heat map over the second image (0..1).")
    ] = 0.6,
    backbone: Backbone = None,
    weights: Weights = None,
    random_init: RandomInit = False,
    seed: Seed = 0,
    image_size: ImageSize = "224",
    fit: Fit = "stretch",
    layer: Layer = None,
    norm: Norm = True,
    features: Features = None,
    index: Index = None,
    synthetic: Synthetic = None,
    gap: Gap = 8,
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("similarity.png"),
) -> None:
    """Cosine similarity of the patch under --point in the first image with every patch of the second, as a heat map."""
    check_output(out, "--out", directory=False)
    source_point = parse_point(point)  # a typo fails before any image is encoded
    from probekit.report.show import show_similarity

    source = _source(
        images, backbone, weights, random_init, seed, image_size, fit, layer, norm, features, index, synthetic
    )
    _write(show_similarity(source, source_point, cmap, alpha, gap), out)


@show_app.command("prediction")
@fails_cleanly
def prediction_command(
    results: Annotated[
        list[Path],
        typer.Option(
            "--results",
            help="Results JSON of a depth, segmentation or normals probe (repeat for several); "
            "its .safetensors must sit beside it.",
        ),
    ],
    images: Images = None,
    backbone: Annotated[
        str | None,
        typer.Option(help="Backbone for image files / --synthetic; default: the one the probe was trained on."),
    ] = None,
    weights: Weights = None,
    random_init: RandomInit = False,
    seed: Seed = 0,
    fit: Fit = "stretch",
    features: Features = None,
    index: Index = None,
    synthetic: Synthetic = None,
    cmap: Annotated[
        str, typer.Option(help="Colour map of depth: turbo, viridis, magma, inferno, plasma or gray.")
    ] = "turbo",
    alpha: Annotated[
        float,
        typer.Option(
            callback=in_range(0.0, 1.0), help="Opacity of the colour maps over the image (0..1; 1 = colours only)."
        ),
    ] = 0.7,
    gap: Gap = 8,
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("prediction.png"),
) -> None:
    """A probe's depth / segmentation / normals predictions over the image, beside the truth (when known)."""
    check_output(out, "--out", directory=False)
    from probekit.report.show import show_prediction

    # image size, layer and norm are the probe's (read from its results JSON)
    source = _source(images, backbone, weights, random_init, seed, "224", fit, None, True, features, index, synthetic)
    _write(show_prediction(results, source, cmap, alpha, gap), out)
