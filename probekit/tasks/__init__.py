"""Probe tasks, one module each; importing this package imports every task module here, which registers
its task in TASKS. Table columns follow TASKS' order: the four shipped tasks first, then the others by name."""

import importlib
import pkgutil

from probekit.tasks.base import TASKS
from probekit.tasks.run import run_probe

FIRST = ("classification", "segmentation", "depth", "correspondence")  # the quickstart table's column order
NOT_TASKS = {"base", "run", "fewshot"}  # helpers, not tasks

_OTHERS = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in NOT_TASKS | set(FIRST))
for _name in (*FIRST, *_OTHERS):
    importlib.import_module(f"{__name__}.{_name}")  # registers the task

__all__ = ["TASKS", "run_probe"]
