-- Spatial layers other than towns and stations (villages, rivers, seawalls, roster, …): one row per
-- layer, the whole GeoJSON document as loaded by `floodctl gis load` (gis_data.loader.load_layers).
CREATE TABLE layers (
    name           text PRIMARY KEY,                  -- LAYERS key: villages, rivers, roster, …
    title          text,
    geojson        jsonb NOT NULL,                    -- FeatureCollection, EPSG:4326 (roster: its JSON)
    feature_count  integer,
    loaded_at      timestamptz NOT NULL DEFAULT now()
);
