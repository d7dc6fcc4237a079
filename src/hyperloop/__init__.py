"""Hyperloop: an analysis train system for particle physics."""

__version__ = "0.1.0"
