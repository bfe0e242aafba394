"""Dense targets at their original resolution, compressed per sample, for scoring where the papers score.

A store whose dataset provides originals (`ImageDataset.originals`, the names of dense targets kept at the
original resolution) holds, besides the targets fitted to the extraction size:

    /originals/shape        (N, 2)  int32    original (H0, W0) of each sample
    /originals/pixel_map    (N, 4)  float32  original pixel xy -> stored image xy: (sx, sy, ox, oy)
    /originals/<name>       (N,)    vlen uint8, one encoded map per sample (codec in the dataset's attrs)

Masks are PNG (lossless, ~10-50x smaller than raw uint8 on label maps); depth is float32 with its four byte
planes split apart and deflated (lossless; the invalid value 0 and smooth surfaces compress well). Both
codecs carry their own integrity checks (PNG chunk CRCs, zlib's Adler-32), so a damaged map fails to decode
instead of being read as labels; HDF5's Fletcher-32 does not apply to variable-length data.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import h5py
import numpy as np

from probekit.data.image_files import decode_png_bytes, encode_png_bytes
from probekit.errors import StoreError

FRAME_FIELDS = ("shape", "pixel_map")
CODECS = {"mask": "png-uint8", "depth": "float32-byteplanes-deflate"}
# Typical raw / encoded size, for disk-space estimates only (label maps ~10-40x; smooth depth ~2-4x).
TYPICAL_RATIO = {"png-uint8": 8.0, "float32-byteplanes-deflate": 2.0}
FRAME_BYTES = 2 * 4 + 4 * 4  # shape (2,) int32 + pixel_map (4,) float32


def encode_png(array: np.ndarray) -> np.ndarray:
    """uint8 (H, W) -> PNG bytes as a (n,) uint8 array."""
    data = encode_png_bytes(array)
    if data is None:
        raise StoreError(f"could not PNG-encode a {array.shape} label map")
    return data


# zlib level of the float byte planes: level 1 takes 1.4 ms per 224 x 224 synthetic depth map against 2.2 ms at
# level 6, for 5% more bytes (3.9x vs 4.1x smaller than raw); the same choice as the targets' gzip level 1.
# Decoding is the same at any level.
FLOAT_PLANES_LEVEL = 1


def encode_float_planes(array: np.ndarray) -> np.ndarray:
    """float32 (H, W) -> deflated byte planes (all first bytes, then all second bytes, ...), lossless."""
    raw = np.ascontiguousarray(array, dtype="<f4").view(np.uint8).reshape(-1, 4)  # (H*W, 4)
    return np.frombuffer(zlib.compress(raw.T.tobytes(), FLOAT_PLANES_LEVEL), dtype=np.uint8)


def decode_float_planes(data: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """Inverse of `encode_float_planes`; None when the bytes do not inflate to that shape."""
    try:
        planes = np.frombuffer(zlib.decompress(np.asarray(data, dtype=np.uint8).tobytes()), dtype=np.uint8)
    except zlib.error:
        return None
    if planes.size != 4 * shape[0] * shape[1]:
        return None
    values: np.ndarray = planes.reshape(4, -1).T.copy().view("<f4").reshape(shape).astype(np.float32)
    return values


_ENCODE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "png-uint8": encode_png,
    "float32-byteplanes-deflate": encode_float_planes,
}
_DECODE: dict[str, Callable[[np.ndarray, tuple[int, int]], np.ndarray | None]] = {
    "png-uint8": decode_png_bytes,
    "float32-byteplanes-deflate": decode_float_planes,
}


def codec_of(name: str) -> str:
    """The codec of an original target (masks PNG, depth float planes)."""
    if name not in CODECS:
        raise StoreError(f"no codec for original target {name!r}: originals can be {', '.join(CODECS)}")
    return CODECS[name]


def estimated_bytes(target_shapes: Mapping[str, tuple[tuple[int, ...], str]], names: Sequence[str]) -> int:
    """Bytes one sample's originals are expected to take: the stored target's raw size over the codec's
    typical ratio. An estimate (original frames may be larger than the stored targets): the per-batch
    free-space check keeps a store resumable when it is off."""
    total = 0.0
    for name in names:
        shape, kind = target_shapes.get(name, ((), "uint8"))
        raw = int(np.prod(shape, dtype=np.int64)) * np.dtype(kind).itemsize
        total += raw / TYPICAL_RATIO[codec_of(name)]
    return int(total) + FRAME_BYTES


def create_originals(
    f: h5py.File, names: Sequence[str], shape: Callable[..., dict[str, Any]], num_samples: int
) -> None:
    """The /originals group of a new store (`shape`: fixed_rows or resizable_rows of store.py)."""
    group = f.create_group("originals")
    rows = max(1, min(num_samples, 1024))
    group.create_dataset("shape", dtype="int32", fletcher32=True, **shape(num_samples, 2, chunks=(rows, 2)))
    group.create_dataset("pixel_map", dtype="float32", fletcher32=True, **shape(num_samples, 4, chunks=(rows, 4)))
    group["pixel_map"].attrs["convention"] = "stored_xy = original_xy * (sx, sy) + (ox, oy), continuous pixels"
    for name in names:
        dataset = group.create_dataset(
            name, dtype=h5py.vlen_dtype(np.uint8), **shape(num_samples, chunks=(min(rows, 64),))
        )
        dataset.attrs["codec"] = codec_of(name)


def original_rows(originals: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, np.ndarray]:
    """One batch's per-sample original dicts -> the rows to write under /originals."""
    rows: dict[str, np.ndarray] = {
        "shape": np.array([np.asarray(o["shape"], dtype=np.int32) for o in originals]).reshape(-1, 2),
        "pixel_map": np.array([np.asarray(o["pixel_map"], dtype=np.float32) for o in originals]).reshape(-1, 4),
    }
    for name in names:
        encode = _ENCODE[codec_of(name)]
        column = np.empty(len(originals), dtype=object)
        for i, o in enumerate(originals):
            if tuple(np.shape(o[name])) != tuple(int(v) for v in o["shape"]):
                raise StoreError(f"original {name} of shape {np.shape(o[name])} does not match its shape {o['shape']}")
            column[i] = encode(np.asarray(o[name]))
        rows[name] = column
    return rows


def decode_rows(
    name: str, codec: str, data: Sequence[np.ndarray] | np.ndarray, shapes: np.ndarray, where: str, start: int = 0
) -> list[np.ndarray]:
    """Encoded rows start.. -> (H0, W0) arrays; undecodable bytes are a StoreError naming the store and row."""
    decode = _DECODE.get(codec)
    if decode is None:
        raise StoreError(f"{where}: original {name} has unknown codec {codec!r}; update probekit or re-extract")
    out = []
    for row, (blob, hw) in enumerate(zip(data, shapes, strict=True)):
        array = decode(blob, (int(hw[0]), int(hw[1])))
        if array is None:
            raise StoreError(f"{where} is corrupt: original {name} of row {start + row} does not decode; re-extract it")
        out.append(array)
    return out
