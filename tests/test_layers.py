"""Imports only point down: no cycles between modules or packages, no import from a lower layer to a higher one.

Every module under probekit/ is parsed with `ast`; imports inside functions count too (a lazy import
still couples the two modules). A failure prints each offending import as file:line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import probekit

ROOT = Path(probekit.__file__).parent

# Lowest first; a unit may import from its own layer and the layers before it, never after.
# A unit is a top-level module or subpackage of probekit.
LAYERS: list[set[str]] = [
    {"errors", "registry", "provenance", "files", "device", "progress", "h5attrs", "yamlfile", "allocator"},
    {"data"},
    {"models"},
    {"backbones"},
    {"features"},
    {"metrics"},
    {"probes"},
    {"correspondence"},  # matching upsamples feature grids with probes.resize
    {"pretrain"},  # above backbones/data/models; nothing but cli imports it
    {"tasks"},
    {"report"},
    {"benchmark"},
    {"cli", "__main__"},
]

Import = tuple[str, str, int]  # (importing module, imported module, line)


def module_name(path: Path) -> str:
    """`probekit.data.pairs` for probekit/data/pairs.py; a package is named by its `__init__`."""
    parts = ["probekit", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The deepest probekit module that `name` (a module, or a name inside one) refers to."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """Every probekit module that `module` imports, anywhere in its body, with the line."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = resolve(name, modules)
            if target is not None and target != module:
                yield module, target, node.lineno


def all_imports() -> list[Import]:
    """Each (module, imported module, line) once, in file order."""
    modules = all_modules()
    found = [imp for module, path in modules.items() for imp in imports_of(module, path, modules)]
    return list(dict.fromkeys(found))


def unit(module: str) -> str:
    """The layer unit of a module: `data` for probekit.data.pairs, `probekit` for the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "probekit"


def layer_of(name: str) -> int:
    for index, names in enumerate(LAYERS):
        if name in names:
            return index
    raise AssertionError(f"probekit.{name} is in no layer: add it to LAYERS in {__file__}")


def location(module: str, line: int) -> str:
    return f"{all_modules()[module].relative_to(ROOT.parent)}:{line}"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def describe_cycles(imports: list[Import], key) -> list[str]:
    """One line per import that lies on a cycle of the graph whose nodes are `key(module)`."""
    edges: dict[str, set[str]] = {}
    for source, target, _ in imports:
        if key(source) != key(target):
            edges.setdefault(key(source), set()).add(key(target))
    lines = []
    for component in cycles(edges):
        members = set(component)
        lines.append(f"cycle between {', '.join(component)}:")
        lines += [
            f"  {location(source, line)}: {source} imports {target}"
            for source, target, line in imports
            if key(source) in members and key(target) in members and key(source) != key(target)
        ]
    return lines


def test_no_cycles_between_modules() -> None:
    problems = describe_cycles(all_imports(), lambda module: module)
    assert not problems, "\n".join(problems)


def test_no_cycles_between_packages() -> None:
    problems = describe_cycles(all_imports(), unit)
    assert not problems, "\n".join(problems)


def test_imports_only_point_down() -> None:
    problems = [
        f"{location(source, line)}: {source} ({unit(source)}) imports {target} ({unit(target)}), a higher layer"
        for source, target, line in all_imports()
        if unit(source) != "probekit" and unit(target) != "probekit" and layer_of(unit(source)) < layer_of(unit(target))
    ]
    assert not problems, "\n".join(problems)


def test_every_unit_has_a_layer() -> None:
    for module in all_modules():
        if unit(module) != "probekit":
            layer_of(unit(module))


def test_the_checker_sees_a_cycle_and_an_upward_import() -> None:
    """The checker itself: a two-node cycle is found, and an upward import is recognised as one."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert layer_of("data") < layer_of("features")
    lazy = [imp for imp in all_imports() if imp[0] == "probekit.features.store"]
    assert any(target.startswith("probekit.data") for _, target, _ in lazy)
