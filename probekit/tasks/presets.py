"""Protocol presets: named sets of task options (probekit/presets/<name>.yaml, also reachable as configs/presets/).

A preset file holds `description`, `sources` (where each setting comes from) and `tasks: {task: {option: value}}`.
`probekit probe --preset NAME|FILE.yaml` and a suite task's `preset:` key start from the preset's options for the
task; options given explicitly win. The preset is recorded in the results JSON (`probe.preset`); the options it
sets, like any others, are what identify the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probekit.errors import ProbekitError
from probekit.tasks.base import TASKS
from probekit.yamlfile import read_yaml

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"  # package data: found from any working directory
KEYS = ("description", "sources", "tasks")


@dataclass(frozen=True)
class Preset:
    """One preset: its name (as given), file, what it is for, its sources and its options per task."""

    name: str
    path: Path
    description: str
    sources: list[str]
    tasks: dict[str, dict[str, Any]]

    def options(self, task: str) -> dict[str, Any]:
        """The preset's options for `task`: a one-line error naming the tasks it covers when it has none."""
        if task not in self.tasks:
            raise ProbekitError(
                f"preset {self.name} has no settings for the {task} task (it covers {', '.join(self.tasks)}): "
                f"drop --preset or use a preset for {task}"
            )
        return dict(self.tasks[task])


def known_presets() -> list[str]:
    """The names of the presets shipped with probekit."""
    return sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    """A shipped preset's file, or `name` itself when it is a YAML file; else a one-line error naming the known."""
    if name.endswith((".yaml", ".yml")) or Path(name).is_file():
        return Path(name)
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ProbekitError(f"unknown preset {name!r}: use one of {', '.join(known_presets())}, or a YAML file")
    return path


def load_preset(name: str) -> Preset:
    """The preset `name` (a shipped name or a YAML file), every task's options checked by that task."""
    path = preset_path(name)
    data = read_yaml(path, "preset file")
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), dict):
        raise ProbekitError(f"preset file {path}: write a mapping with {', '.join(KEYS)} (tasks: {{task: {{...}}}})")
    if unknown := sorted(set(map(str, data)) - set(KEYS)):
        raise ProbekitError(f"preset file {path}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(KEYS)}")
    tasks: dict[str, dict[str, Any]] = {}
    for task, options in data["tasks"].items():
        if options is not None and not isinstance(options, dict):
            raise ProbekitError(f"preset file {path}: tasks: {task}: write a mapping of options, not {options!r}")
        try:
            TASKS.get(str(task)).parse_options(options or {})
        except ProbekitError as error:
            raise ProbekitError(f"preset file {path}: tasks: {task}: {error}") from None
        tasks[str(task)] = dict(options or {})
    sources = data.get("sources") or []
    return Preset(name, path, str(data.get("description") or ""), [str(s) for s in sources], tasks)
