"""Tests of the Meta connectors."""
