"""Layer selection: '-1', 'last4', 'quarters', 'all' or explicit indices such as '0,5,11'."""

from __future__ import annotations

from collections.abc import Callable

from probekit.errors import BackboneError

_NAMED: dict[str, Callable[[int], list[int]]] = {
    "last": lambda depth: [depth - 1],
    "last4": lambda depth: list(range(max(depth - 4, 0), depth)),
    # Probe3D's multilayer choice: the ends of the four quarters of the network.
    "quarters": lambda depth: sorted({max(depth * q // 4 - 1, 0) for q in (1, 2, 3, 4)}),
    "all": lambda depth: list(range(depth)),
}


def resolve_layers(spec: str | list[int], depth: int) -> list[int]:
    """Absolute, sorted, unique 0-based block indices; negative indices count from the end."""
    if isinstance(spec, str) and spec.strip() in _NAMED:
        return _NAMED[spec.strip()](depth)
    if isinstance(spec, str):
        try:
            indices = [int(part) for part in spec.split(",") if part.strip()]
        except ValueError:
            raise BackboneError(
                f"bad layer spec {spec!r}: use indices like '-1' or '0,5,11', or one of {', '.join(_NAMED)}"
            ) from None
    else:
        indices = list(spec)
    if not indices:
        raise BackboneError("empty layer spec: give at least one layer, e.g. '-1'")
    resolved = []
    for index in indices:
        absolute = index + depth if index < 0 else index
        if not 0 <= absolute < depth:
            raise BackboneError(f"layer {index} is out of range for a backbone with {depth} blocks")
        resolved.append(absolute)
    return sorted(set(resolved))
