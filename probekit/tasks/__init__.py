"""Probe tasks, one module each; importing this package registers them in TASKS (in this order: the table's)."""

# isort: off
from probekit.tasks import classification, segmentation, depth, correspondence  # noqa: F401, I001 - register, in order
# isort: on
from probekit.tasks.base import TASKS
from probekit.tasks.run import run_probe

__all__ = ["TASKS", "run_probe"]
