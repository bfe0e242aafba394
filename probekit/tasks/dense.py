"""Scoring dense predictions where the papers score them: the original label frame, and DINOv2's "+ms".

`score_at`:
- `original` (default when the store keeps originals, probekit/features/originals.py): predictions at the
  stored image size are carried onto the original pixel grid through each sample's pixel map (bilinear,
  half-pixel centres, mmsegmentation's `resize(..., align_corners=False)` to the original shape) and scored
  against the original labels. Original pixels the stored image never saw (a `crop` fit cuts the long
  side) are not invented: they are left out and `scored_fraction` (< 1) says how much of the labelled
  original was scored, with a warning naming the fix (`--fit pad`, or an --image-size of the images' aspect).
- `stored`: scored on the targets as stored (the fitted mask, the depth window): the crop-level score.
Stores written before originals existed are scored at `stored`, and the JSON says so.

`head`:
- `linear` (default): the task's linear head on the chosen layers' patch grids, concatenated on channels.
- `dpt`: DPT's multi-layer decoder (probekit/probes/heads.py `DPTDecoder`) over 4 layers (default: the ends
  of the network's quarters, extract `--layers quarters`), its (F, 4h, 4w) map read out by the task's linear
  head. The results JSON's `probe.head` gives the kind and the trainable parameter count of either, so a
  comparison of the two says how many more parameters the decoder trained.

`protocol`:
- `lin`: the base store's features only.
- `ms`: DINOv2's +ms (mmsegmentation's `SegTTAModel` / aug_test): the head is applied to every view store
  (probekit/features/tta.py: scales x flip), each prediction is taken to the scoring frame (un-flipped
  there), segmentation class probabilities (softmax of the logits) / depth maps are averaged, then arg-max.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from probekit.errors import ProbekitError
from probekit.features.store import FEATURE_KEYS, FeatureStore
from probekit.features.tta import DINOV2_MS_SCALES, check_scales, tta_path, tta_views
from probekit.probes.heads import DPTDecoder, parameter_count
from probekit.probes.resize import resample_to_original, resize_bilinear
from probekit.probes.stream import StoreView, iterate_batches
from probekit.probes.trainer import to_device
from probekit.tasks.base import TrainedOptions, choose_layers, option
from probekit.tasks.sweep import layer_sets

SCORE_AT = ("original", "stored")
PROTOCOLS = ("lin", "ms")
DENSE_HEADS = ("linear", "dpt")
# Settings view stores may differ in from their base: the size (their scale) and what follows from it.
VIEW_KEYS = tuple(key for key in FEATURE_KEYS if key not in ("image_size", "grid"))


@dataclass(frozen=True)
class DenseOptions(TrainedOptions):
    """What the dense tasks (segmentation, depth) add to the training options: where and how they are scored."""

    score_at: str = option(
        "original",
        "Score on the original-resolution targets, as mmsegmentation and the depth toolbox do (stores without "
        "originals: stored) | on the stored targets.",
        choices=SCORE_AT,
    )
    protocol: str = option(
        "lin",
        "Test protocol: lin (base store) | ms (DINOv2 +ms: average over scale/flip view stores).",
        choices=PROTOCOLS,
    )
    ms_scales: tuple[float, ...] = option(DINOV2_MS_SCALES, "Scales of --protocol ms (DINOv2: 0.5..1.75).")
    ms_flip: bool = option(True, "--protocol ms also averages the mirrored views (DINOv2: yes).")
    head: str = option(
        "linear",
        "Dense head: linear (the task's linear head on the chosen layers) | dpt (DPT's reassemble + fusion "
        "decoder over 4 layers, default: the ends of the network's quarters, then the linear head).",
        choices=DENSE_HEADS,
    )
    dpt_features: int = option(256, "Fusion width of --head dpt (DPT / DINOv2's DPTHead: 256 channels).")

    def __post_init__(self) -> None:
        check_scales(self.ms_scales)
        if self.dpt_features < 1:
            raise ProbekitError(f"dpt_features must be a positive integer, not {self.dpt_features}")
        if self.head == "dpt" and self.layers is not None and len(set(self.layers)) != 4:
            raise ProbekitError(
                f"--head dpt reassembles 4 layers, not {len(set(self.layers))} ({','.join(map(str, self.layers))}): "
                "pass 4 stored layers to --layers, or leave it out for the ends of the network's quarters"
            )
        super().__post_init__()


def quarter_layers(depth: int) -> list[int]:
    """The blocks ending each quarter of a `depth`-block network, 0-based: 2, 5, 8, 11 of 12 (Probe3D's
    multilayer choice, mbanani/probe3d evals/models/dino.py; DPT's ViT-B hooks, Ranftl et al. 2021)."""
    return [depth * q // 4 - 1 for q in (1, 2, 3, 4)]


def dense_layers(store: FeatureStore, options: DenseOptions) -> list[int]:
    """The layers the head reads: --layers, else the last stored (linear) or the quarters' ends (dpt)."""
    if options.head != "dpt" or options.layers:
        return choose_layers(store, options.layers, default="last")
    wanted = quarter_layers(int(store.attrs["depth"]))
    if missing := [k for k in wanted if k not in store.layers]:
        raise ProbekitError(
            f"--head dpt reads blocks {','.join(map(str, wanted))} (the ends of the network's quarters); "
            f"{store.path.name} stores {','.join(map(str, store.layers))}, not {','.join(map(str, missing))}: "
            "extract with --layers quarters, or pass 4 stored layers to --layers"
        )
    return wanted


def dense_sets(store: FeatureStore, options: DenseOptions) -> list[list[int]]:
    """The layer sets of a dense task's heads: one per swept layer (--sweep-layers, linear heads), else the one
    set of --layers or the head's default (dense_layers)."""
    if options.head == "dpt":
        if options.sweep_layers is not None:
            raise ProbekitError(
                "--sweep-layers trains a linear head on each layer, --head dpt one head on 4 layers: use one of them"
            )
        return [dense_layers(store, options)]
    return layer_sets(store, options.layers, options.sweep_layers, "last")


def dense_head(
    kind: str, embed_dim: int, layers: int, with_cls: bool, features: int, readout: Callable[[int], nn.Module]
) -> nn.Module:
    """The task's head: `readout(in_channels)` on the concatenated grids (linear), or after the DPT decoder."""
    if kind == "linear":
        return readout(embed_dim * layers * (2 if with_cls else 1))
    if layers != 4:
        raise ProbekitError(f"--head dpt reassembles 4 layers, not {layers}: pass 4 stored layers to --layers")
    return nn.Sequential(DPTDecoder(embed_dim, features, with_cls), readout(features))


def head_summary(kind: str, head: nn.Module, layers: Sequence[int]) -> dict[str, Any]:
    """The results JSON's `probe.head`: the kind, the layers it reads and its trainable parameters."""
    return {"kind": kind, "layers": list(layers), "params": parameter_count(head)}


# (store, begin, end) -> the head's input arrays of samples [begin, end) of one view store
InputReader = Callable[[FeatureStore, int, int], dict[str, np.ndarray]]
# head input batch -> (B, C, h, w) maps over the stored image (segmentation logits, depth with C = 1)
Predictor = Callable[[dict[str, torch.Tensor]], torch.Tensor]


@dataclass(frozen=True)
class TestView:
    """One test-time view: a store of the split's features at one scale, mirrored or not."""

    store: FeatureStore
    scale: float
    flip: bool

    @property
    def image_hw(self) -> tuple[int, int]:
        h, w = self.store.attrs["image_size"]
        return int(h), int(w)


def scoring_frame(store: FeatureStore, score_at: str, target: str) -> tuple[str, str | None]:
    """'original' when asked and the store keeps the target's original, else 'stored', with the warning
    (for the results' `warnings`) when it had to fall back."""
    if score_at == "original" and target in (store.originals or ()):
        return "original", None
    if score_at == "original":
        return "stored", (
            f"{store.path.name} keeps no original-resolution {target} (extracted by an older probekit, or the "
            f"dataset has none): scored on the stored {target}; re-extract to score at the original resolution"
        )
    return "stored", None


def test_views(base: FeatureStore, protocol: str, scales: Sequence[float], flip: bool) -> list[TestView]:
    """The views a protocol averages over, the base first; a missing or mismatched view store is one line."""
    if protocol == "lin":
        return [TestView(base, 1.0, False)]
    views = []
    for scale, flipped in tta_views(scales, flip):
        path = tta_path(base.path, scale, flipped)
        if not path.is_file():
            raise ProbekitError(
                f"--protocol ms needs the view store {path} (scale {scale:g}{', flipped' if flipped else ''}): "
                f"extract {base.path.name} again with --scales {','.join(f'{s:g}' for s in scales)}"
                f"{' --flip' if flip else ''}"
            )
        store = base if path == base.path else FeatureStore(path)
        _check_view(base, store)
        views.append(TestView(store, scale, flipped))
    return views


def _check_view(base: FeatureStore, view: FeatureStore) -> None:
    """A view store of `base`: the same samples, features made the same way apart from the size."""
    differing = [key for key in VIEW_KEYS if base.attrs.get(key) != view.attrs.get(key)]
    if differing or len(base) != len(view) or (view is not base and view.ids != base.ids):
        what = f"{differing[0]} differs" if differing else "its samples differ"
        raise ProbekitError(
            f"{view.path.name} is not a view of {base.path.name} ({what}): extract both with one "
            f"`probekit extract ... --scales ... --flip` command"
        )


def frame_predictions(
    split: StoreView,
    views: Sequence[TestView],
    read_inputs: InputReader,
    read_truth: InputReader,
    predict: Predictor,
    frame: str,
    stored_hw: tuple[int, int],
    softmax: bool,
    batch_size: int,
    device: torch.device,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, dict[str, np.ndarray]]]:
    """Every sample of `split` predicted in the scoring frame, averaged over `views`, with its batch's rows.

    In the `original` frame each sample's map is the original's shape; in the `stored` frame `stored_hw`
    (the stored target's). `softmax`: average class probabilities (segmentation); else the raw maps (depth).
    Yields per sample (prediction (C, H, W), inside (H, W) bool: the frame pixels the base image saw, that
    sample's row of `read_truth`'s arrays read from the base store).
    """

    def read(store: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:
        arrays = {f"{key}@truth": value for key, value in read_truth(store, begin, end).items()}
        for i, view in enumerate(views):
            arrays |= {f"{key}@{i}": value for key, value in read_inputs(view.store, begin, end).items()}
            if frame == "original":
                shapes, maps = view.store.read_frames(begin, end)
                arrays[f"shape@{i}"], arrays[f"pixel_map@{i}"] = shapes, maps
        return arrays

    for arrays in iterate_batches(split, read, batch_size):
        maps = [_view_maps(arrays, i, read_inputs, predict, device) for i in range(len(views))]  # (B, C, h, w) each
        for b in range(len(maps[0])):
            total, inside = None, None
            for i, view in enumerate(views):
                pred, seen = _to_frame(maps[i][b], view, arrays, i, b, frame, stored_hw)
                pred = pred.softmax(0) if softmax else pred
                total = pred if total is None else total + pred
                inside = seen if inside is None else inside
            assert total is not None and inside is not None
            truth = {key[: -len("@truth")]: value[b] for key, value in arrays.items() if key.endswith("@truth")}
            yield total / len(views), inside, truth


def _view_maps(
    arrays: dict[str, np.ndarray], i: int, read_inputs: InputReader, predict: Predictor, device: torch.device
) -> torch.Tensor:
    """The head's (B, C, h, w) output on view i's features."""
    inputs = {key.split("@")[0]: value for key, value in arrays.items() if key.endswith(f"@{i}")}
    inputs = {key: value for key, value in inputs.items() if key not in ("shape", "pixel_map")}
    with torch.no_grad():
        return predict(to_device(inputs, device))


def _to_frame(
    pred: torch.Tensor,
    view: TestView,
    arrays: dict[str, np.ndarray],
    i: int,
    b: int,
    frame: str,
    stored_hw: tuple[int, int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """One view's (C, h, w) map in the scoring frame (flip undone) and the frame pixels the view saw."""
    if frame == "stored":
        out = resize_bilinear(pred, stored_hw)  # (C, H, W): every view covers the stored target's extent
        out = out.flip(-1) if view.flip else out
        return out, torch.ones(stored_hw, dtype=torch.bool, device=pred.device)
    base_hw = tuple(int(v) for v in arrays["shape@0"][b])
    own_hw = tuple(int(v) for v in arrays[f"shape@{i}"][b])
    frame_scale = own_hw[1] / base_hw[1]  # a view rendered at its own size (synthetic) has a larger original
    pixel_map = torch.from_numpy(np.asarray(arrays[f"pixel_map@{i}"][b], dtype=np.float64))
    return resample_to_original(pred, pixel_map, view.image_hw, (base_hw[0], base_hw[1]), frame_scale)


def fraction_warning(scored: int, total: int, what: str) -> str | None:
    """The warning when part of the labelled original was outside the stored image, else None."""
    if total == 0 or scored >= total:
        return None
    return (
        f"{1 - scored / total:.1%} of the {what} original pixels lie outside the stored image (crop fit) and were "
        f"not scored; extract at an --image-size of the images' aspect ratio (or with fit 'pad', docs/concepts.md) "
        f"to score them all"
    )


def object_column(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """A (n,) object array holding maps of different shapes (so batches can index it like any column)."""
    column = np.empty(len(arrays), dtype=object)
    for i, array in enumerate(arrays):
        column[i] = array
    return column
