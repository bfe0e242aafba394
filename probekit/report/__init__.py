"""Results JSONs, comparison tables and (later) figures."""
