"""Patch correspondence: matching patch features between images (shared by the task and the pictures)."""
