"""GIS layers of floodctl: the schematic sample of Xiangshan county and the loader for real data."""

from gis_data.loader import (
    DEFAULT_STATIONS,
    DEFAULT_TOWNS,
    load,
    load_files,
    read_geojson,
    validate_stations,
    validate_towns,
)

__all__ = [
    "DEFAULT_STATIONS",
    "DEFAULT_TOWNS",
    "load",
    "load_files",
    "read_geojson",
    "validate_stations",
    "validate_towns",
]
