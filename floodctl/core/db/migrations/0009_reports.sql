-- Field reports (巡查上报) from inspectors: what they saw, where, optionally a photo. A report of a kind
-- the rules name (e.g. a seawall breach) raises a warning on the spot and drafts an order.
CREATE TABLE reports (
    id               bigserial        PRIMARY KEY,
    drill_id         integer          NOT NULL DEFAULT 0 REFERENCES drills (id),
    kind             text             NOT NULL,       -- seawall_breach, overtopping, landslide, waterlogging, …
    town_code        text             REFERENCES towns (code),
    lon              double precision CHECK (lon BETWEEN -180 AND 180),
    lat              double precision CHECK (lat BETWEEN -90 AND 90),
    text             text             NOT NULL,
    people_affected  integer          CHECK (people_affected >= 0),
    photo            bytea,
    photo_type       text,
    reported_by      text             NOT NULL,
    reported_at      timestamptz      NOT NULL DEFAULT now(),
    warning_id       bigint           REFERENCES warnings (id)
);
CREATE INDEX reports_drill_idx ON reports (drill_id, id DESC);
