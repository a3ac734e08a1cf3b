-- A drill's clock against the wall clock: which drill time had been reached at which wall-clock second.
-- Readings carry their drill time (the replayed storm's), while orders, 叫应, response levels and reports
-- are stamped with the wall clock; the wall's time slider maps one onto the other through this table.
-- Written by ingest, once per drill per second at most (live operations need no mapping).
CREATE TABLE drill_clock (
    drill_id  integer     NOT NULL REFERENCES drills (id) ON DELETE CASCADE,
    wall_at   timestamptz NOT NULL,       -- to the second
    drill_at  timestamptz NOT NULL,       -- the newest reading of the drill committed by then
    PRIMARY KEY (drill_id, wall_at)
);
CREATE INDEX drill_clock_drill_at_idx ON drill_clock (drill_id, drill_at);
