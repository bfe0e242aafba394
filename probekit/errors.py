"""probekit's exception types: one-line messages that name the thing and the fix."""


class ProbekitError(Exception):
    """Base class for errors a user can act on (the CLI prints them as one line)."""


class BackboneError(ProbekitError):
    """Unknown backbone name or unusable configuration."""


class WeightsError(ProbekitError):
    """Weights cannot be found, downloaded or loaded."""


class DatasetError(ProbekitError):
    """Dataset name, root or split is unusable."""


class StoreError(ProbekitError):
    """A feature store is missing, incomplete, corrupt or mismatched."""


class DiskFullError(StoreError):
    """Not enough disk space for a store (before starting, or before the next batch)."""


class StoreBusyError(StoreError):
    """Another process is writing the same store."""


class UnreadableFileError(DatasetError):
    """A dataset file is missing, truncated or corrupt: `extract --on-error skip` may leave its sample out."""


class MetricError(ProbekitError, ValueError):
    """Metric inputs of the wrong shape, dtype or values (also a ValueError, as these checks were before)."""
