-- Time-series tables, TimescaleDB path: observations as a hypertable with daily chunks,
-- compression of chunks older than 7 days and a retention policy.

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE observations (
    station_id  integer          NOT NULL,
    metric_id   smallint         NOT NULL,
    ts          timestamptz      NOT NULL,
    value       double precision NOT NULL,
    flags       smallint         NOT NULL DEFAULT 0,   -- bit 0: late (backfill)
    drill_id    integer          NOT NULL DEFAULT 0,
    PRIMARY KEY (station_id, metric_id, ts, drill_id)
);

SELECT create_hypertable('observations', 'ts', chunk_time_interval => INTERVAL '1 day');

ALTER TABLE observations SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'station_id, metric_id, drill_id',
    timescaledb.compress_orderby = 'ts DESC'
);
SELECT add_compression_policy('observations', INTERVAL '7 days');
-- Ten years of raw readings: flood records are evidence. Change with remove_/add_retention_policy.
SELECT add_retention_policy('observations', INTERVAL '3650 days');
