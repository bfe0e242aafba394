"""A human-readable account of a feature store: provenance, then every dataset's shape and dtype."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py

from probekit.features.skips import describe_skipped
from probekit.features.space import human_bytes
from probekit.features.store import FeatureStore

_PROVENANCE = (
    "backbone",
    "backbone_model",
    "weights_source",
    "weights_sha256",
    "global_source",
    "patch_size",
    "embed_dim",
    "depth",
    "num_registers",
    "image_size",
    "grid",
    "layers",
    "layer_grids",  # feature-map backbones: per stored layer (stage)
    "layer_dims",
    "layer_strides",
    "outputs",
    "norm",
    "dtype",
    "pixel_mean",
    "pixel_std",
    "interpolation",
    "pos_embed_resample",
    "dataset",
    "split",
    "root",
    "dataset_fingerprint",
    "limit",
    "subset_seed",
    "num_samples",
    "batch_size",
    "device",
    "amp",
    "probekit_version",
    "git_sha",
    "created",
    "finished",
    "extract_seconds",
    "images_per_second",
    "features_fingerprint",
    "checksums",
)


def store_summary(path: str | Path) -> str:
    with FeatureStore(path, allow_incomplete=True) as store:
        attrs = store.attrs
        status = (
            "complete"
            if attrs.get("complete")
            else f"INCOMPLETE ({attrs.get('num_done')}/{attrs.get('num_samples')} samples; re-run extract to resume)"
        )
        lines = [f"{store.path}  [{status}]", ""]
        width = max(len(k) for k in _PROVENANCE)
        lines += [
            f"  {key:<{width}}  {attrs[key]}" for key in _PROVENANCE if key in attrs and attrs[key] not in ("", None)
        ]
        lines += describe_skipped(attrs.get("skipped") or [])
        lines += _describe_shards(attrs)
        lines += bytes_per_image(store)
        lines += ["", "  datasets:"]

        def visit(name: str, node: object) -> None:
            if isinstance(node, h5py.Dataset):
                extra = f"  chunks={node.chunks}" if node.chunks else "  virtual" if node.is_virtual else ""
                lines.append(f"    /{name:<24} {node.shape!s:<22} {node.dtype}{extra}")

        store.file.visititems(visit)
        for name in store.targets:
            target_attrs = store.target_attrs(name)
            if target_attrs:
                lines.append(f"    targets/{name} attrs: " + ", ".join(f"{k}={v}" for k, v in target_attrs.items()))
        return "\n".join(lines)


def _describe_shards(attrs: dict[str, Any]) -> list[str]:
    """Lines for a torchrun shard (its range) or a joined store (its shard files, which must move with it)."""
    shard = attrs.get("shard")
    if shard:
        return ["", f"  shard {shard['index']} of {shard['count']}: samples [{shard['start']}, {shard['stop']})"]
    shards = attrs.get("shards") or []
    if not shards:
        return []
    lines = ["", f"  joined from {len(shards)} shards (beside it; move them with it):"]
    return lines + [f"    {s['file']}  samples [{s['start']}, {s['stop']})  {s['rows']} rows" for s in shards]


def bytes_per_image(store: FeatureStore) -> list[str]:
    """Bytes per image of the features, targets (with their compression ratio) and originals, as stored."""
    parts = store.stored_bytes()
    count = max(int(store.attrs.get("num_done") or 0), 1)  # rows written (all of them in a complete store)
    (_, features), (raw, targets), (_, originals) = parts["features"], parts["targets"], parts["originals"]
    raw = raw * count // max(len(store), 1)  # the raw size of the rows written
    ratio = f" (raw {human_bytes(raw / count)}, compressed {raw / targets:.1f}x)" if targets else ""
    return [
        "",
        f"  bytes per image: features {human_bytes(features / count)}, targets {human_bytes(targets / count)}{ratio}, "
        f"originals {human_bytes(originals / count)}",
    ]
