"""floodctl — flood-control and emergency command decision system for a coastal county HQ."""
