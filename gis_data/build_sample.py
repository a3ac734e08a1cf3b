"""Generate the SCHEMATIC sample layers of Xiangshan county (象山县): towns, stations and the rest.

    python -m gis_data.build_sample [OUT_DIR]      # default: the gis_data package folder

writes ``towns.geojson`` and ``stations.geojson`` (EPSG:4326), and from a second random stream (so
stations never move) ``county``, ``catchments``, ``rivers``, ``reservoirs``, ``seawalls``,
``villages``, ``shelters``, ``waterlogging``, ``cameras`` (.geojson) and ``roster.json``. Each file's
``description`` says what it is made from; all of it is schematic, the roster's people are invented
and its phone numbers lie in 1390000XXXX, a range this project declares fictional. The checked-in copies are the output
of this script; ``tests/gis_data`` regenerates them and compares bytes, so edit this file and rerun
it rather than editing the GeoJSON by hand.

What is real and what is not:

* The 18 town-level divisions, their Chinese names and kinds are real. Their seats are approximate
  (from general knowledge, good to a few km). Codes follow the statistical-division pattern
  330225 + 001… for 街道, 100… for 镇, 200… for 乡; check them against the county's own list.
* Boundaries are NOT real: a hand-drawn outline of the peninsula plus 南田岛 and 高塘岛, split into
  Voronoi cells around the seats. Good enough to put stations on a map for drills, nothing more.
* Station names of seven reservoirs (岩头陈, 燕山, 兴坑, 塘岙, 南盘, 大斜桥, 上张) are real; their
  positions, and every other station, name and number, are invented but of realistic size
  (thresholds in metres, 1985 national height datum).

The county replaces all of this with its own data through ``floodctl gis load PATH``.

Determinism: one numpy Generator with a fixed seed, consumed in a fixed order, and coordinates
snapped to a 1e-6 degree grid (~0.1 m), so two runs give byte-identical files.

The parts live in ``gis_data.sample``: ``county`` (towns, outline, the km plane), ``placement``,
``stations`` (towns and stations layers), ``layers`` (the rest), ``roster``, ``output`` (writing).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gis_data.sample.layers import LayerBuilder
from gis_data.sample.output import DISCLAIMER, LAYER_HEADERS, layer_header, write_collection
from gis_data.sample.roster import roster_entries, write_roster
from gis_data.sample.stations import SampleBuilder

SEED = 330225  # any fixed value works; changing it reshuffles every station
OUT_DIR = Path(__file__).parent


def build_all(out_dir: Path = OUT_DIR, seed: int = SEED) -> dict[str, Path]:
    """Write every sample layer into ``out_dir``; return {layer name: path}."""
    builder = SampleBuilder(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"{name}.geojson" for name in ("towns", "stations", *LAYER_HEADERS)}
    paths["roster"] = out_dir / "roster.json"
    write_collection(
        paths["towns"],
        {
            "name": "象山县乡镇（街道）区划 — 示意 / Xiangshan county towns (schematic)",
            "description": DISCLAIMER.format(
                what="the 18 real town-level divisions with approximate seats; boundaries are "
                "Voronoi cells around the seats clipped to a rough county outline"
            ),
        },
        builder.town_features(),
    )
    stations = builder.station_features()
    write_collection(
        paths["stations"],
        {
            "name": "象山县水雨情监测站点 — 示意 / Xiangshan county stations (schematic)",
            "description": DISCLAIMER.format(
                what="invented stations (a few real reservoir names) with realistic thresholds in "
                "metres, 1985 national height datum"
            ),
        },
        stations,
    )
    layers = LayerBuilder(builder, stations, seed)
    rivers, catchments = layers.water_features()
    made = {
        "county": layers.county_features(),
        "catchments": catchments,
        "rivers": rivers,
        "reservoirs": layers.reservoir_features(),
        "seawalls": layers.seawall_features(),
        "villages": layers.village_features(),
        "shelters": layers.shelter_features(),
        "waterlogging": layers.waterlogging_features(),
        "cameras": layers.camera_features(),
    }
    for name, features in made.items():
        write_collection(paths[name], layer_header(name), features)
    write_roster(paths["roster"], roster_entries(layers.rng))
    return paths


def build(out_dir: Path = OUT_DIR, seed: int = SEED) -> tuple[Path, Path]:
    """Write every sample layer (see ``build_all``); return the paths of towns and stations."""
    paths = build_all(out_dir, seed)
    return paths["towns"], paths["stations"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    for path in build_all(args.out_dir).values():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
