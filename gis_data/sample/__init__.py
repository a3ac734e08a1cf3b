"""The generator of the SCHEMATIC sample county, in parts; ``gis_data.build_sample`` runs it."""
