-- Consultations (会商): the county HQ meets in front of the wall during an event, looks at the situation and
-- decides. Owned by dashboard/consult.py (SQL lives there). A decision links what it did (the response_levels
-- row it set, the order it approved) and the audit_log row that records it: one audit trail with the API's.

CREATE TABLE consultations (
    id          bigserial   PRIMARY KEY,
    drill_id    integer     NOT NULL DEFAULT 0 REFERENCES drills (id),   -- 0 = live operations
    title       text        NOT NULL CHECK (length(btrim(title)) > 0),
    state       text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    started_by  text        NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    ended_by    text,
    ended_at    timestamptz,
    notes       text        NOT NULL DEFAULT '',                         -- conclusions, recorded by the host
    CHECK ((state = 'closed') = (ended_at IS NOT NULL AND ended_by IS NOT NULL))
);
CREATE INDEX consultations_drill_idx ON consultations (drill_id, id DESC);

-- Who attended, as recorded by the host (people in the room or on the video link need no account).
CREATE TABLE consultation_attendees (
    id               bigserial   PRIMARY KEY,
    consultation_id  bigint      NOT NULL REFERENCES consultations (id),
    name             text        NOT NULL CHECK (length(btrim(name)) > 0),
    unit             text        NOT NULL DEFAULT '',                    -- role or unit: 县水利局, 石浦镇, 气象台
    joined_at        timestamptz NOT NULL DEFAULT now(),
    added_by         text        NOT NULL,
    UNIQUE (consultation_id, name)
);

-- The situation as the wall showed it, frozen. `at` is the situation time (a drill's own clock in a drill),
-- `taken_at` the wall clock. The payload holds counts and short lists, never the full stations GeoJSON.
CREATE TABLE consultation_snapshots (
    id               bigserial   PRIMARY KEY,
    consultation_id  bigint      NOT NULL REFERENCES consultations (id),
    at               timestamptz NOT NULL,
    taken_at         timestamptz NOT NULL DEFAULT now(),
    taken_by         text        NOT NULL,
    payload          jsonb       NOT NULL
);
CREATE INDEX consultation_snapshots_idx ON consultation_snapshots (consultation_id, id);

CREATE TABLE consultation_decisions (
    id                 bigserial   PRIMARY KEY,
    consultation_id    bigint      NOT NULL REFERENCES consultations (id),
    kind               text        NOT NULL CHECK (kind IN ('response_level', 'approve_order', 'note')),
    text               text        NOT NULL DEFAULT '',
    decided_by         text        NOT NULL,
    decided_at         timestamptz NOT NULL DEFAULT now(),
    response_level_id  bigint      REFERENCES response_levels (id),
    order_id           bigint      REFERENCES orders (id),
    audit_id           bigint      NOT NULL REFERENCES audit_log (id),  -- the consultation.decide entry
    CHECK ((kind = 'response_level') = (response_level_id IS NOT NULL)),
    CHECK ((kind = 'approve_order') = (order_id IS NOT NULL))
);
CREATE INDEX consultation_decisions_idx ON consultation_decisions (consultation_id, id);
