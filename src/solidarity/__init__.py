"""Solidarity: an integrated social protection information system."""

__version__ = "0.1.0"
