import pytest

from probekit.backbones import resolve_layers
from probekit.errors import BackboneError


@pytest.mark.parametrize(
    ("spec", "depth", "expected"),
    [
        ("-1", 12, [11]),
        ("last4", 12, [8, 9, 10, 11]),
        ("quarters", 12, [2, 5, 8, 11]),  # Probe3D's multilayer for ViT-S/B
        ("quarters", 24, [5, 11, 17, 23]),
        ("0,5,11", 12, [0, 5, 11]),
        ("11,-1,0", 12, [0, 11]),
        ("all", 3, [0, 1, 2]),
        ("last4", 2, [0, 1]),
    ],
)
def test_resolve_layers(spec, depth, expected):
    assert resolve_layers(spec, depth) == expected


@pytest.mark.parametrize("spec", ["12", "-13", "a,b", ""])
def test_bad_layer_specs_name_the_problem(spec):
    with pytest.raises(BackboneError, match="layer"):
        resolve_layers(spec, 12)
