"""Feature extraction into HDF5 stores, and reading them back."""

from probekit.features.extract import ExtractConfig, extract
from probekit.features.store import FeatureStore, StoreLayout, StoreWriter

__all__ = ["ExtractConfig", "FeatureStore", "StoreLayout", "StoreWriter", "extract"]
