"""The HDF5 feature store: one file per (backbone, dataset split, resolution).

Layout (see DESIGN.md):
    /ids                    (N,)          str
    /layers/<k>/cls         (N, D)        float16 | float32
    /layers/<k>/mean        (N, D)
    /layers/<k>/patch       (N, h, w, D)  one sample per chunk, uncompressed
    /targets/<name>         (N, ...)      label, mask, depth, camera ... with their attrs
    /pairs/...              (P, ...)      correspondence datasets: image pairs and keypoints (data/pairs.py)
    attrs                   provenance; `complete` is set only when every sample is written

Writers append whole batches in dataset order and record progress (`num_done`) after each
flush, so an interrupted run resumes where it stopped. Readers refuse incomplete stores and
stores whose settings do not match (train vs val from different backbones).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from probekit.data.base import TargetSpec
from probekit.data.pairs import PairTable, read_pairs, write_pairs
from probekit.errors import StoreError
from probekit.features.attrs import read_attrs, write_attrs
from probekit.provenance import short_hash

FORMAT = "probekit-features/1"
FIELDS = ("cls", "mean", "patch")
# Attributes that decide what the feature vectors are: stores to be used together must agree on them.
FEATURE_KEYS = (
    "backbone", "backbone_model", "weights_sha256", "image_size", "grid", "layers", "norm", "dtype",
    "pixel_mean", "pixel_std", "interpolation", "global_source", "pos_embed_resample",
)


def features_fingerprint(attrs: Mapping[str, Any]) -> str:
    """Hash of the settings that decide the features (not the data): equal for a model's train and val stores."""
    return short_hash({key: attrs.get(key) for key in FEATURE_KEYS})


@dataclass(frozen=True)
class StoreLayout:
    """Shapes of a store to create."""

    num_samples: int
    layers: Sequence[int]
    grid: tuple[int, int]
    dim: int
    dtype: str
    targets: Mapping[str, TargetSpec]
    pairs: PairTable | None = None  # correspondence datasets: the image pairs and their keypoints


class StoreWriter:
    """Creates a store (or reopens an interrupted one) and appends batches in order."""

    def __init__(self, path: Path, layout: StoreLayout, attrs: Mapping[str, Any], resume_key: str):
        self.path = Path(path)
        self.layout = layout
        if self.path.exists():
            self.file = self._reopen(resume_key)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = self._create(attrs, resume_key)

    @property
    def num_done(self) -> int:
        return int(self.file.attrs["num_done"])

    def _create(self, attrs: Mapping[str, Any], resume_key: str) -> h5py.File:
        layout = self.layout
        N, (h, w), D = layout.num_samples, layout.grid, layout.dim
        f = h5py.File(self.path, "w")
        try:
            f.create_dataset("ids", shape=(N,), dtype=h5py.string_dtype())
            for layer in layout.layers:
                group = f.create_group(f"layers/{layer}")
                group.create_dataset("cls", shape=(N, D), dtype=layout.dtype)
                group.create_dataset("mean", shape=(N, D), dtype=layout.dtype)
                group.create_dataset("patch", shape=(N, h, w, D), dtype=layout.dtype, chunks=(1, h, w, D))
            for name, spec in layout.targets.items():
                chunks = (1, *spec.shape) if spec.shape else None
                dataset = f.create_dataset(f"targets/{name}", shape=(N, *spec.shape), dtype=spec.dtype, chunks=chunks)
                write_attrs(dataset, spec.attrs)
            if layout.pairs is not None:
                write_pairs(f, layout.pairs)
            write_attrs(f, dict(attrs, format=FORMAT, complete=False, num_done=0, resume_key=resume_key,
                                features_fingerprint=features_fingerprint(attrs)))
            f.flush()
        except BaseException:
            f.close()
            self.path.unlink(missing_ok=True)
            raise
        return f

    def _reopen(self, resume_key: str) -> h5py.File:
        try:
            f = h5py.File(self.path, "r+")
        except OSError as error:
            raise StoreError(f"{self.path} exists but cannot be opened ({error}); delete it or pass --overwrite") from None
        stored = read_attrs(f)
        if stored.get("format") != FORMAT or stored.get("resume_key") != resume_key:
            f.close()
            raise StoreError(
                f"{self.path} exists with other settings (or data); pass --overwrite to replace it or choose another --out"
            )
        return f

    def write(self, start: int, ids: Sequence[str], features: Mapping[int, Mapping[str, np.ndarray]],
              targets: Mapping[str, np.ndarray]) -> None:
        """Write samples [start, start + len(ids)) and record the progress once the data is on disk."""
        if start != self.num_done:
            raise StoreError(f"{self.path}: batches must be written in order (expected start {self.num_done}, got {start})")
        stop = start + len(ids)
        f = self.file
        f["ids"][start:stop] = np.asarray(ids, dtype=object)
        for layer, fields in features.items():
            for field, values in fields.items():
                f[f"layers/{layer}/{field}"][start:stop] = values
        for name, values in targets.items():
            f[f"targets/{name}"][start:stop] = values
        f.flush()
        f.attrs["num_done"] = stop
        f.flush()

    def finish(self, attrs: Mapping[str, Any]) -> None:
        if self.num_done != self.layout.num_samples:
            raise StoreError(f"{self.path}: finishing with {self.num_done}/{self.layout.num_samples} samples written")
        write_attrs(self.file, dict(attrs, complete=True))
        self.file.flush()

    def close(self) -> None:
        if self.file.id.valid:
            self.file.close()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FeatureStore:
    """Read access to a complete store: per sample, by contiguous slice, or streamed in batches.

    Files open lazily, so a store can be handed to DataLoader workers and each opens its own handle.
    """

    def __init__(self, path: str | Path, allow_incomplete: bool = False):
        self.path = Path(path)
        if not self.path.is_file():
            raise StoreError(f"feature store {self.path} does not exist: create it with `probekit extract ... --out {self.path}`")
        self._file: h5py.File | None = None
        try:
            f = self.file
        except OSError as error:
            raise StoreError(f"{self.path} is not a readable HDF5 file ({error}); re-run `probekit extract`") from None
        self.attrs = read_attrs(f)
        if self.attrs.get("format") != FORMAT:
            raise StoreError(f"{self.path} is not a probekit feature store (format {self.attrs.get('format')!r})")
        if not self.attrs.get("complete") and not allow_incomplete:
            raise StoreError(
                f"{self.path} is incomplete ({self.attrs.get('num_done')}/{self.attrs.get('num_samples')} samples): "
                f"re-run the same `probekit extract` command to resume it"
            )
        self.layers: list[int] = [int(k) for k in sorted(f["layers"], key=int)]
        self.targets: list[str] = sorted(f["targets"]) if "targets" in f else []

    # -- file handle -----------------------------------------------------------------------
    @property
    def file(self) -> h5py.File:
        if self._file is None or not self._file.id.valid:
            self._file = h5py.File(self.path, "r")
        return self._file

    def close(self) -> None:
        if self._file is not None and self._file.id.valid:
            self._file.close()
        self._file = None

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:  # picklable for DataLoader workers: reopen lazily
        return dict(self.__dict__, _file=None)

    # -- shape information -----------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.attrs["num_samples"])

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.attrs["grid"])

    @property
    def dim(self) -> int:
        return int(self.attrs["embed_dim"])

    @property
    def ids(self) -> list[str]:
        return [_text(i) for i in self.file["ids"][:]]

    @property
    def has_pairs(self) -> bool:
        return "pairs" in self.file

    def read_pairs(self) -> PairTable:
        """The image pairs of a correspondence store (keypoints in original pixels)."""
        return read_pairs(self.file, str(self.path))

    def target_attrs(self, name: str) -> dict[str, Any]:
        return read_attrs(self._dataset(f"targets/{name}"))

    @property
    def fingerprint(self) -> str:
        """Identifies features and data: the store a result was computed from."""
        return short_hash(self.attrs.get("features_fingerprint"), self.attrs.get("dataset_fingerprint"),
                          self.attrs.get("num_samples"))

    # -- reading ---------------------------------------------------------------------------
    def _dataset(self, key: str) -> h5py.Dataset:
        try:
            return self.file[key]
        except KeyError:
            raise StoreError(f"{self.path} has no {key!r} (layers: {self.layers}, targets: {self.targets})") from None

    def resolve_layer(self, layer: int | None) -> int:
        """A stored layer index: None = the last stored layer; negative = counted from the end of the network."""
        if layer is None:
            return self.layers[-1]
        if not _is_index(layer):
            raise StoreError(f"{self.path}: layer must be an integer, got {layer!r} (layers: {self.layers})")
        layer = int(layer)
        if layer < 0:
            layer += int(self.attrs["depth"])
        if layer not in self.layers:
            raise StoreError(f"{self.path} has layers {self.layers}, not {layer}: re-extract with --layers")
        return layer

    def read(self, field: str, start: int = 0, stop: int | None = None, layer: int | None = None) -> np.ndarray:
        """Samples [start, stop) of a feature field ('cls' | 'mean' | 'patch') of one layer (default: last)."""
        if field not in FIELDS:
            raise StoreError(f"unknown feature field {field!r}: use one of {', '.join(FIELDS)}")
        start, stop = self._span(start, stop)
        return self._dataset(f"layers/{self.resolve_layer(layer)}/{field}")[start:stop]

    def read_target(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        start, stop = self._span(start, stop)
        return self._dataset(f"targets/{name}")[start:stop]

    def _span(self, start: int, stop: int | None) -> tuple[int, int]:
        """[start, stop) checked against the store: a slice past the end would silently return fewer rows."""
        stop = len(self) if stop is None else stop
        if not (_is_index(start) and _is_index(stop) and 0 <= start <= stop <= len(self)):
            raise StoreError(f"{self.path}: samples [{start}, {stop}) are out of range for its {len(self)} samples")
        return int(start), int(stop)

    def sample(self, index: int) -> dict[str, Any]:
        """Everything stored for one sample: id, every layer's fields, every target."""
        if not (_is_index(index) and -len(self) <= index < len(self)):
            raise StoreError(f"{self.path}: sample {index!r} is out of range for its {len(self)} samples")
        index %= len(self)
        return {
            "id": _text(self.file["ids"][index]),  # one id, not the whole column
            "layers": {k: {field: self.read(field, index, index + 1, k)[0] for field in FIELDS} for k in self.layers},
            "targets": {name: self.read_target(name, index, index + 1)[0] for name in self.targets},
        }

    def iter_batches(
        self,
        batch_size: int,
        fields: Sequence[str] = ("cls",),
        layers: Sequence[int] | None = None,
        targets: Sequence[str] = (),
        start: int = 0,
        stop: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Contiguous batches, read one at a time, so a store larger than RAM streams through.

        Yields {"start": i, "layers": {layer: {field: array}}, "targets": {name: array}}.
        """
        if not _is_index(batch_size) or batch_size < 1:
            raise StoreError(f"batch size must be a positive integer, got {batch_size!r}")
        layers = [self.resolve_layer(k) for k in (layers if layers is not None else self.layers)]
        start, stop = self._span(start, min(stop, len(self)) if _is_index(stop) else stop)  # a stop past the end: N
        for begin in range(start, stop, batch_size):
            end = min(begin + batch_size, stop)
            yield {
                "start": begin,
                "layers": {k: {field: self.read(field, begin, end, k) for field in fields} for k in layers},
                "targets": {name: self.read_target(name, begin, end) for name in targets},
            }

    # -- compatibility ---------------------------------------------------------------------
    def check_compatible(self, other: FeatureStore) -> None:
        """Raise unless `other` holds features made the same way (e.g. the val split of this train store)."""
        differing = [key for key in FEATURE_KEYS if self.attrs.get(key) != other.attrs.get(key)]
        if differing:
            details = "; ".join(f"{key}: {self.attrs.get(key)!r} vs {other.attrs.get(key)!r}" for key in differing[:3])
            raise StoreError(
                f"{self.path.name} and {other.path.name} were extracted differently ({details}): "
                f"re-extract one of them with the other's settings"
            )


def _is_index(value: Any) -> bool:
    """An int or numpy integer (not a bool, float or string): what h5py slicing and layer names accept."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _text(value: bytes | str) -> str:
    """h5py returns variable-length strings as bytes."""
    return value.decode() if isinstance(value, bytes) else value
