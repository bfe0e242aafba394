"""Probe tasks, one module each; importing this package registers them in TASKS."""

from probekit.tasks import classification, correspondence, depth, segmentation  # noqa: F401 - register the tasks
from probekit.tasks.base import TASKS
from probekit.tasks.run import run_probe

__all__ = ["TASKS", "run_probe"]
