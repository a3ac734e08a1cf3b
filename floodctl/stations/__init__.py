"""Stations and their readings: the read side (registry as GeoJSON, latest values, series)."""
