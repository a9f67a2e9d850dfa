"""vcc: an open-source, multi-site, multi-tenant virtual contact center."""

__version__ = "0.1.0"
