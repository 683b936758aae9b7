"""Kommentarvakt: every comment on the municipality's official pages, triaged and followed up."""

__version__ = "0.1.0"
