-- The rule engine's lease and its progress. Owned by alerts/engine.py.
--
-- One engine is active at a time: the one whose lease row is current. It renews the lease every few
-- seconds (FLOOD_ENGINE_LEASE_S is its time to live); a standby takes it over once it has expired, with
-- the next epoch. Every write transaction of the active engine first locks and renews the row for its
-- own (holder, epoch): after a takeover an old holder that wakes up (a frozen process, a partitioned
-- host) writes nothing, and a takeover waits for the holder's transaction in flight.
CREATE TABLE engine_lease (
    name        text        PRIMARY KEY,
    holder      text        NOT NULL,         -- host:pid:random of the engine holding it
    epoch       bigint      NOT NULL,         -- +1 at every acquisition
    acquired_at timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

-- Per (drill, station): the event time of the newest reading the engine has judged, written in the
-- transaction that judged it. After an outage or a takeover the engine judges every reading newer than
-- this at its own event time (catch-up), not just the newest.
CREATE TABLE engine_judged (
    drill_id    integer     NOT NULL,
    station_id  integer     NOT NULL,
    through     timestamptz NOT NULL,
    PRIMARY KEY (drill_id, station_id)
);
