"""Refuge: capture blocked sites into WARC files, keep them safe, and replay them."""

__version__ = "0.1.0"
