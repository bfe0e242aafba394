"""probekit: what does a frozen vision encoder know?"""

__version__ = "0.1.0"
