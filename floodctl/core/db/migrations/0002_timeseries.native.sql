-- Time-series tables, native PostgreSQL path: observations range-partitioned by UTC day.
-- Partitions are created ahead of time and on demand (backfill) by ensure_observation_partitions().

CREATE TABLE observations (
    station_id  integer          NOT NULL,
    metric_id   smallint         NOT NULL,
    ts          timestamptz      NOT NULL,
    value       double precision NOT NULL,
    flags       smallint         NOT NULL DEFAULT 0,   -- bit 0: late (backfill)
    drill_id    integer          NOT NULL DEFAULT 0,
    PRIMARY KEY (station_id, metric_id, ts, drill_id)
) PARTITION BY RANGE (ts);

CREATE FUNCTION ensure_observation_partitions(first_day date, last_day date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    d date := first_day;
    created integer := 0;
    part text;
BEGIN
    WHILE d <= last_day LOOP
        part := format('observations_p%s', to_char(d, 'YYYYMMDD'));
        IF to_regclass(part) IS NULL THEN
            -- Two writers may race for the same day: the loser's error is harmless.
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF observations FOR VALUES FROM (%L) TO (%L)',
                    part, (d::timestamp AT TIME ZONE 'UTC'), ((d + 1)::timestamp AT TIME ZONE 'UTC'));
                created := created + 1;
            EXCEPTION WHEN duplicate_table OR invalid_object_definition THEN
                NULL;
            END;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN created;
END $$;

-- Drop whole days older than the retention horizon; returns how many partitions went.
CREATE FUNCTION drop_observation_partitions_before(horizon date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    dropped integer := 0;
BEGIN
    FOR r IN
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'observations'::regclass
          AND c.relname ~ '^observations_p[0-9]{8}$'
          AND to_date(substring(c.relname from 15), 'YYYYMMDD') < horizon
    LOOP
        EXECUTE format('DROP TABLE %I', r.relname);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END $$;

SELECT ensure_observation_partitions((now() AT TIME ZONE 'UTC')::date - 7, (now() AT TIME ZONE 'UTC')::date + 7);
