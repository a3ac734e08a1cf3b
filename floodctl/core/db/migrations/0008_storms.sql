-- Tropical cyclone tracks (best track and forecast fixes), per drill (0 = live operations). A drill
-- replay records its storm's whole track; the rule engine treats fixes after its clock as forecast.
CREATE TABLE storm_fixes (
    drill_id      integer          NOT NULL DEFAULT 0 REFERENCES drills (id),
    storm         text             NOT NULL,            -- e.g. "In-Fa (烟花) 2106"
    at            timestamptz      NOT NULL,
    lat           double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon           double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    max_wind_ms   double precision NOT NULL CHECK (max_wind_ms >= 0),
    pressure_hpa  double precision,
    forecast      boolean          NOT NULL DEFAULT false,
    source        text             NOT NULL DEFAULT '',
    PRIMARY KEY (drill_id, storm, at, forecast)
);
