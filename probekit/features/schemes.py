"""Do two stores' targets mean the same thing? Label schemes compared, and remapped by class name on request.

Features made the same way are checked by `FeatureStore.check_compatible`; this module checks what the
stored target values mean: a val store whose class 3 is another class than train's class 3, or whose
masks ignore another index, would give a plausible but wrong number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from probekit.errors import StoreError
from probekit.features.store import FeatureStore

# Target attributes that decide how a stored value is read; stores used together must agree on them.
SCHEME_KEYS: dict[str, tuple[str, ...]] = {
    "label": ("num_classes", "class_names"),
    "mask": ("num_classes", "class_names", "ignore_index", "zero_label_reduced"),
    "depth": ("unit", "kind", "invalid_value", "min_depth", "max_depth"),
    "normals": ("frame",),  # a ground-truth file's axes need not be the derived/rendered camera frame's
}
REMAPPABLE = ("label", "mask")  # class ids: can be matched by class name
LABEL_MAPS = ("none", "names")


def check_target_schemes(train: FeatureStore, other: FeatureStore, label_map: str = "none") -> None:
    """Raise naming both values unless every target the two stores share has the same scheme.

    With label_map='names', class ids of `other` that differ from train's are remapped by class name
    (other's reads then return train's ids); a class train does not have is still an error.
    """
    if label_map not in LABEL_MAPS:
        raise StoreError(f"unknown --label-map {label_map!r}: use one of {', '.join(LABEL_MAPS)}")
    for name in sorted(set(train.targets) & set(other.targets) & set(SCHEME_KEYS)):
        mine, theirs = train.target_attrs(name), other.target_attrs(name)
        differing = [key for key in SCHEME_KEYS[name] if mine.get(key) != theirs.get(key)]
        if not differing:
            continue
        if label_map == "names" and name in REMAPPABLE and set(differing) <= {"class_names", "num_classes"}:
            other.remap_target(name, class_remap(mine, theirs, name, train, other))
            continue
        key = differing[0]
        hint = (
            " or pass --label-map names to match classes by name"
            if name in REMAPPABLE and key in ("class_names", "num_classes")
            else ""
        )
        raise StoreError(
            f"{train.path.name} and {other.path.name} disagree on target '{name}' {key}: "
            f"{_short(mine.get(key))} vs {_short(theirs.get(key))}; use stores of one dataset "
            f"and label scheme{hint}"
        )


def class_remap(
    mine: Mapping[str, Any], theirs: Mapping[str, Any], name: str, train: FeatureStore, other: FeatureStore
) -> np.ndarray:
    """Lookup table: `other`'s stored class id -> train's id of the same class name (ignore index kept)."""
    train_names, other_names = _names(mine, name, train), _names(theirs, name, other)
    index = {class_name: k for k, class_name in enumerate(train_names)}
    unknown = [class_name for class_name in other_names if class_name not in index]
    if unknown:
        raise StoreError(
            f"--label-map names: {other.path.name} has classes that {train.path.name} lacks "
            f"({_short(unknown)}); a probe cannot predict a class it never saw"
        )
    table = np.arange(len(other_names), dtype=np.int64)  # ids beyond it (ignore index) are read unchanged
    for k, class_name in enumerate(other_names):
        table[k] = index[class_name]
    return table


def _names(attrs: Mapping[str, Any], name: str, store: FeatureStore) -> Sequence[str]:
    names = attrs.get("class_names")
    if not names:
        raise StoreError(f"--label-map names: {store.path.name} has no class names for target '{name}' to match by")
    return [str(n) for n in names]


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
