-- Ingest side tables: latest value per station and metric, video events, device status, dead letters.

-- The "now" view: one row per (station, metric, drill), kept current by ingest.
CREATE TABLE latest_values (
    station_id  integer          NOT NULL,
    metric_id   smallint         NOT NULL,
    drill_id    integer          NOT NULL DEFAULT 0,
    ts          timestamptz      NOT NULL,
    value       double precision NOT NULL,
    flags       smallint         NOT NULL DEFAULT 0,
    PRIMARY KEY (station_id, metric_id, drill_id)
);

CREATE TABLE video_events (
    station_id    integer     NOT NULL,
    camera        text        NOT NULL,
    ts            timestamptz NOT NULL,
    online        boolean,
    snapshot_url  text,
    stream_url    text,
    event         text,
    drill_id      integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (station_id, camera, ts, drill_id)
);
CREATE INDEX video_events_ts_idx ON video_events (ts DESC);

CREATE TABLE device_status (
    station_id  integer     NOT NULL,
    ts          timestamptz NOT NULL,
    online      boolean,
    battery_v   double precision,
    signal_dbm  double precision,
    drill_id    integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (station_id, ts, drill_id)
);

CREATE TABLE device_status_latest (
    station_id  integer     NOT NULL,
    drill_id    integer     NOT NULL DEFAULT 0,
    ts          timestamptz NOT NULL,
    online      boolean,
    battery_v   double precision,
    signal_dbm  double precision,
    PRIMARY KEY (station_id, drill_id)
);

CREATE TABLE dead_letters (
    id           bigserial   PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    topic        text        NOT NULL,
    payload      bytea       NOT NULL,
    reason       text        NOT NULL,   -- machine code: malformed_json, unknown_station, …
    detail       text        NOT NULL DEFAULT ''
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at DESC);
CREATE INDEX dead_letters_reason_idx ON dead_letters (reason);
