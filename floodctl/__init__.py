"""floodctl — flood-control and emergency command decision system for a coastal county HQ."""

__version__ = "0.1.0"
