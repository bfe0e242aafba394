"""HDF5 attributes to and from plain Python values (dicts and None travel as JSON strings).

A utility below data/ and features/: both the store and the pair table write their attributes with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import h5py

_JSON = "json:"


def to_attr(value: Any) -> Any:
    """A value h5py can store as an attribute, reversible by `from_attr`."""
    if value is None or isinstance(value, Mapping):
        return _JSON + json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, str) for v in value):
            return np.array(value, dtype=object)
        if all(isinstance(v, (int, float, bool, np.number)) for v in value) and value:
            return np.asarray(value)
        return _JSON + json.dumps(list(value), default=str)
    return value


def from_attr(value: Any) -> Any:
    """The plain Python value of an HDF5 attribute written by `to_attr`."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return json.loads(value[len(_JSON) :]) if value.startswith(_JSON) else value
    if isinstance(value, np.ndarray):
        return [from_attr(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_attrs(node: h5py.HLObject, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        node.attrs[key] = to_attr(value)


def read_attrs(node: h5py.HLObject) -> dict[str, Any]:
    return {key: from_attr(value) for key, value in node.attrs.items()}
