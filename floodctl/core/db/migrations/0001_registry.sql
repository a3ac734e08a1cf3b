-- Registry: towns, stations (SL 323-style attributes and thresholds), metrics, drills.

CREATE TABLE towns (
    code        text PRIMARY KEY,              -- 9-digit township code (GB/T 2260 county + 3 digits)
    name        text NOT NULL UNIQUE,          -- 石浦镇
    name_en     text,                          -- Shipu
    seat_lon    double precision,
    seat_lat    double precision,
    geometry    jsonb,                         -- GeoJSON geometry, EPSG:4326
    properties  jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE stations (
    id              serial PRIMARY KEY,
    code            text NOT NULL UNIQUE CHECK (code ~ '^[0-9A-Za-z]{8}$'),   -- SL 323 STCD
    name            text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('river', 'reservoir', 'tide', 'rain', 'weather', 'camera')),
    town_code       text REFERENCES towns (code),
    lon             double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    lat             double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    river           text,                       -- RVNM
    basin           text,                       -- BSNM
    elevation_m     double precision,           -- DTMEL
    admin_unit      text,                       -- ADMAUTH
    -- thresholds, SL 323 names; NULL where the station has none
    wrz             double precision,           -- 警戒水位
    grz             double precision,           -- 保证水位
    fsltdz_meiyu    double precision,           -- 汛限水位, 梅汛期
    fsltdz_typhoon  double precision,           -- 汛限水位, 台汛期
    dsflz           double precision,           -- 设计洪水位
    ckflz           double precision,           -- 校核洪水位
    dam_crest       double precision,           -- 坝顶高程
    tide_blue       double precision,           -- 警戒潮位 蓝色
    tide_yellow     double precision,           -- 警戒潮位 黄色
    tide_orange     double precision,           -- 警戒潮位 橙色
    tide_red        double precision,           -- 警戒潮位 红色
    seawall_crest   double precision,           -- 海塘堤顶高程
    properties      jsonb NOT NULL DEFAULT '{}',
    active          boolean NOT NULL DEFAULT true,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stations_town_idx ON stations (town_code);

-- Fixed metric vocabulary of the MQTT contract; ids are what the time-series tables store.
CREATE TABLE metrics (
    id          smallint PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    unit        text NOT NULL,
    sl323       text,
    min_value   double precision NOT NULL,
    max_value   double precision NOT NULL
);
INSERT INTO metrics (id, name, unit, sl323, min_value, max_value) VALUES
    (1,  'water_level', 'm',      'Z/RZ',   -20,   2000),
    (2,  'rainfall',    'mm',     'DRP',    0,     500),
    (3,  'flow',        'm3/s',   'Q',      -100000, 100000),
    (4,  'inflow',      'm3/s',   'INQ',    0,     100000),
    (5,  'outflow',     'm3/s',   'OTQ',    0,     100000),
    (6,  'storage',     '1e6 m3', 'W',      0,     100000),
    (7,  'tide_level',  'm',      'TDZ',    -15,   20),
    (8,  'wind_speed',  'm/s',    'WNDV',   0,     120),
    (9,  'wind_dir',    'deg',    'WNDDIR', 0,     360),
    (10, 'pressure',    'hPa',    NULL,     850,   1090),
    (11, 'wave_height', 'm',      'WVHGT',  0,     40),
    (12, 'battery_v',   'V',      NULL,     0,     60);

-- Drills (演练). Id 0 is live operations: every time-series row carries a drill id.
CREATE TABLE drills (
    id          integer PRIMARY KEY,
    name        text NOT NULL,
    scenario    text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz
);
CREATE SEQUENCE drills_id_seq OWNED BY drills.id START 1;
ALTER TABLE drills ALTER COLUMN id SET DEFAULT nextval('drills_id_seq');
INSERT INTO drills (id, name, scenario) VALUES (0, 'live', NULL);
