"""productshot: a product-photo studio you talk to."""

__version__ = "0.1.0"
