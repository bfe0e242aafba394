"""Predictions of a saved probe head: rebuild it from a results JSON + its .safetensors, apply it to features.

The task rebuilds and applies its head (`Task.build_head`, `Task.predict`) exactly as it trained and
evaluated it, so a picture shows what the metrics measured:
    segmentation: patch grids of the chosen layers concatenated on channels -> BN + 1x1 conv ->
                  logits bilinearly upsampled to the label size -> arg-max
    depth:        the same grids (+ CLS on every patch when `with_cls`) -> bins / regression head ->
                  bilinear upsampling to the label size
    --head dpt:   the same input through the DPT decoder (4 layers) before that readout
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from probekit.data.layout import resolve_under
from probekit.errors import ProbekitError, StoreError
from probekit.features.store import FeatureStore
from probekit.tasks import TASKS
from probekit.tasks.results import RESULTS_FORMAT


@dataclass(frozen=True)
class SavedHead:
    """A trained head with the settings it was trained under (`probe.settings` of the results JSON)."""

    task: str
    settings: dict[str, Any]
    module: nn.Module
    result: dict[str, Any]

    @property
    def layers(self) -> list[int]:
        return [int(k) for k in self.settings["layers"]]

    @property
    def needs_cls(self) -> bool:
        return bool(self.settings.get("with_cls", False))


def read_result(path: str | Path) -> dict[str, Any]:
    """A probekit results JSON as a dict (one-line errors for a missing or foreign file)."""
    path = Path(path)
    if not path.is_file():
        raise ProbekitError(f"results file {path} does not exist: train a probe first (`probekit probe ... --out DIR`)")
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ProbekitError(
            f"{path} is not JSON ({error.msg}): pass a results JSON written by `probekit probe`"
        ) from None
    if not isinstance(result, dict) or result.get("format") != RESULTS_FORMAT:
        raise ProbekitError(f"{path} is not a probekit results JSON (format {RESULTS_FORMAT!r})")
    return result


def load_head(path: str | Path) -> SavedHead:
    """The chosen head of a results JSON, weights read from the .safetensors file beside it, in eval mode."""
    from safetensors.torch import load_file

    path = Path(path)
    result = read_result(path)
    task = result["task"]
    runner = TASKS.get(str(task))
    settings = result["probe"]["settings"]
    name = str(result.get("head_weights", path.with_suffix(".safetensors").name))
    weights = resolve_under(path.parent, name, f"{path} head_weights")  # beside the JSON, never elsewhere
    if not weights.is_file():
        raise ProbekitError(f"head weights {weights} are missing: keep the .safetensors file beside {path.name}")
    state = load_file(str(weights))
    module = runner.build_head(settings, layer_width(result))
    try:
        module.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise ProbekitError(f"{weights} does not fit the {task} head described in {path.name} ({first})") from None
    return SavedHead(task=task, settings=settings, module=module.eval(), result=result)


def layer_width(result: dict[str, Any]) -> int:
    """Channels per chosen layer: `embed_dim`, or a feature-map backbone's stage width (the chosen layers of a
    dense head share one grid, so one stage width; `layer_dims` is aligned with the stored layers)."""
    features = result.get("features", {})
    dims = features.get("layer_dims")
    if dims is None:
        return int(result["backbone"]["embed_dim"])
    chosen = result["probe"]["settings"]["layers"][-1]
    return int(dims[list(features["layers"]).index(chosen)])


def check_features(head: SavedHead, fingerprint: str | None, source: str) -> None:
    """Refuse features made differently from those the head was trained on (another backbone, size, norm)."""
    trained = head.result.get("features", {}).get("features_fingerprint")
    if trained and fingerprint and trained != fingerprint:
        raise StoreError(
            f"{source} holds other features than the {head.task} head was trained on "
            f"({head.result['label']}): pass the store (or backbone) the probe was trained with"
        )


@torch.no_grad()
def predict(
    head: SavedHead,
    patch: Mapping[int, np.ndarray | torch.Tensor],
    cls: Mapping[int, np.ndarray | torch.Tensor] | None,
    size: tuple[int, int],
) -> np.ndarray:
    """(H, W) prediction (labels or metres; (H, W, 3) unit normals) of one image from its per-layer features.

    patch: layer -> (h, w, D) grid; cls: layer -> (D,) global token (needed by depth heads with CLS).
    """
    missing = [k for k in head.layers if k not in patch or (head.needs_cls and (cls is None or k not in cls))]
    if missing:
        raise ProbekitError(f"the {head.task} head reads layers {head.layers}; features lack layer(s) {missing}")

    def tensor(a: np.ndarray | torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, dtype=np.float32))

    batch = {"x": torch.cat([tensor(patch[k]) for k in head.layers], dim=-1)[None]}  # (1, h, w, L*D)
    if head.needs_cls:
        assert cls is not None  # `missing` above refuses a head that needs CLS without it
        batch["cls"] = torch.cat([tensor(cls[k]) for k in head.layers], dim=-1)[None]  # (1, L*D)
    out = TASKS.get(head.task).predict(head.module, head.settings, batch, size)  # (1, H, W)
    return out[0].cpu().numpy()


def truth_target(head: SavedHead) -> str:
    """The target name that holds the truth of the head's predictions ('mask', 'depth', 'normals')."""
    target = TASKS.get(head.task).truth_target
    if target is None:
        raise ProbekitError(f"the {head.task} task has no per-pixel predictions to show")
    return target


def predict_store(head: SavedHead, store: FeatureStore, index: int) -> np.ndarray:
    """(H, W) (or (H, W, 3)) prediction for sample `index` of a store, at its truth's size as the task evaluates it
    (the stored image size when the store has no such target)."""
    if not 0 <= index < len(store):
        raise StoreError(f"--index {index} is out of range: {store.path} holds {len(store)} samples")
    check_features(head, store.attrs.get("features_fingerprint"), str(store.path))
    patch = {k: store.read("patch", index, index + 1, k)[0] for k in head.layers}
    cls = {k: store.read("cls", index, index + 1, k)[0] for k in head.layers} if head.needs_cls else None
    target = truth_target(head)
    height, width = store.file[f"targets/{target}"].shape[1:3] if target in store.targets else store.attrs["image_size"]
    return predict(head, patch, cls, (int(height), int(width)))
