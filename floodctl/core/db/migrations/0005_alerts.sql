-- Warnings, county response level, response orders (处警单), 叫应 per town, the delivery outbox and
-- the signed acknowledgement links. Owned by alerts/store.py (SQL lives there).

-- One row per warning (alarm). Keyed by (rule, subject, drill): at most one active at a time; a
-- cleared one stays as history and a new occurrence is a new row.
CREATE TABLE warnings (
    id               bigserial PRIMARY KEY,
    rule_id          text        NOT NULL,
    subject          text        NOT NULL,              -- station code, or an area id (town code, 'county')
    subject_kind     text        NOT NULL CHECK (subject_kind IN ('station', 'area')),
    town_code        text        REFERENCES towns (code),
    drill_id         integer     NOT NULL DEFAULT 0 REFERENCES drills (id),
    category         text        NOT NULL CHECK (category IN ('flood', 'device')),
    hazard           text,
    state            text        NOT NULL CHECK (state IN ('active', 'cleared')),
    level            text        NOT NULL CHECK (level IN ('blue', 'yellow', 'orange', 'red')),
    acknowledged     boolean     NOT NULL DEFAULT false,
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    raised_at        timestamptz NOT NULL,              -- event time (reading time), not arrival time
    last_seen        timestamptz NOT NULL,
    cleared_at       timestamptz,
    below_since      timestamptz,
    value            double precision,
    threshold        double precision,
    message_zh       text        NOT NULL,
    message_en       text        NOT NULL,
    late             boolean     NOT NULL DEFAULT false,  -- raised from late data: history, never orders
    level_history    jsonb       NOT NULL DEFAULT '[]',   -- [[epoch s, level], ...]
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX warnings_one_active_idx ON warnings (rule_id, subject, drill_id) WHERE state = 'active';
CREATE INDEX warnings_drill_state_idx ON warnings (drill_id, state, last_seen DESC);

CREATE TABLE warning_events (
    id              bigserial   PRIMARY KEY,
    warning_id      bigint      NOT NULL REFERENCES warnings (id) ON DELETE CASCADE,
    kind            text        NOT NULL,               -- raised, escalated, de-escalated, cleared, acknowledged
    at              timestamptz NOT NULL,               -- event time
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    level           text,
    previous_level  text,
    value           double precision,
    threshold       double precision,
    actor           text
);
CREATE INDEX warning_events_warning_idx ON warning_events (warning_id, id);

-- County response level (none, Ⅳ, Ⅲ, Ⅱ, Ⅰ): the newest row per drill is in force.
CREATE TABLE response_levels (
    id          bigserial   PRIMARY KEY,
    drill_id    integer     NOT NULL DEFAULT 0 REFERENCES drills (id),
    level       text        NOT NULL CHECK (level IN ('none', 'IV', 'III', 'II', 'I')),
    reason      text        NOT NULL CHECK (length(btrim(reason)) > 0),
    decided_by  text        NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX response_levels_drill_idx ON response_levels (drill_id, id DESC);

-- Response orders (处警单).
CREATE TABLE orders (
    id               bigserial   PRIMARY KEY,
    drill_id         integer     NOT NULL DEFAULT 0 REFERENCES drills (id),
    msg_type         text        NOT NULL CHECK (msg_type IN ('alert', 'update', 'cancel', 'allclear')),
    refers_to        bigint      REFERENCES orders (id),
    status           text        NOT NULL CHECK (status IN ('draft', 'approved', 'cancelled')),
    hazard           text        NOT NULL,
    level            text        CHECK (level IN ('blue', 'yellow', 'orange', 'red')),
    response_level   text        CHECK (response_level IN ('none', 'IV', 'III', 'II', 'I')),
    order_no         text        NOT NULL,              -- 象防指〔2026〕42号
    title_zh         text        NOT NULL,
    body_zh          text        NOT NULL,
    title_en         text        NOT NULL,
    body_en          text        NOT NULL,
    sms_zh           text        NOT NULL,
    led_zh           text        NOT NULL,
    speaker_zh       text        NOT NULL,
    towns            text[]      NOT NULL CHECK (cardinality(towns) > 0),
    channels         text[]      NOT NULL DEFAULT '{sms,led,speaker}',
    warning_id       bigint      REFERENCES warnings (id),
    source           text        NOT NULL CHECK (source IN ('rule', 'officer')),
    drafted_by       text        NOT NULL,
    drafted_at       timestamptz NOT NULL DEFAULT now(),
    approved_by      text,
    approved_at      timestamptz,
    auto_approved    boolean     NOT NULL DEFAULT false,
    cancelled_by     text,
    cancelled_at     timestamptz,
    cancel_reason    text,
    ack_deadline_s   integer     NOT NULL,
    resend_after_s   integer     NOT NULL,
    CHECK (status <> 'approved' OR (approved_by IS NOT NULL AND approved_at IS NOT NULL)),
    CHECK (msg_type = 'alert' OR refers_to IS NOT NULL)
);
CREATE INDEX orders_drill_idx ON orders (drill_id, id DESC);
-- The rule engine drafts at most one order per warning and level (restarts and replays are no-ops).
CREATE UNIQUE INDEX orders_rule_draft_idx ON orders (warning_id, level, msg_type) WHERE source = 'rule';

-- 叫应: one row per (order, town). contact_rank 0 = primary, 1 = deputy, 2 = superior (roster order).
CREATE TABLE order_towns (
    order_id          bigint      NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    town_code         text        NOT NULL REFERENCES towns (code),
    state             text        NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'acknowledged', 'unreached', 'carried_out', 'cancelled')),
    contact_rank      smallint    NOT NULL DEFAULT 0,
    escalations       smallint    NOT NULL DEFAULT 0,
    called_at         timestamptz NOT NULL DEFAULT now(),
    resend_at         timestamptz,
    deadline_at       timestamptz NOT NULL,
    resent            boolean     NOT NULL DEFAULT false,
    acknowledged_at   timestamptz,
    acknowledged_by   text,                            -- person (name) or account
    ack_via           text        CHECK (ack_via IN ('sms', 'link', 'page')),
    carried_out_at    timestamptz,
    carried_out_by    text,
    carried_out_text  text,
    people_moved      integer     CHECK (people_moved >= 0),
    PRIMARY KEY (order_id, town_code)
);
CREATE INDEX order_towns_due_idx ON order_towns (deadline_at) WHERE state = 'pending';

-- What happened to an order, for the wall and the briefing: approved, escalated, unreached, …
CREATE TABLE order_events (
    id          bigserial   PRIMARY KEY,
    order_id    bigint      NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    town_code   text,
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text        NOT NULL,
    actor       text,
    detail      text        NOT NULL DEFAULT ''
);
CREATE INDEX order_events_order_idx ON order_events (order_id, id);

-- The transactional outbox: one row per (order, recipient, channel, round), written in the transaction
-- that approves the order (or resends / escalates a call). Dispatchers claim rows FOR UPDATE SKIP LOCKED.
CREATE TABLE deliveries (
    id               bigserial   PRIMARY KEY,
    order_id         bigint      NOT NULL REFERENCES orders (id),
    drill_id         integer     NOT NULL DEFAULT 0,
    town_code        text        NOT NULL,
    recipient        text        NOT NULL,             -- roster key (primary/deputy/superior) or device id
    recipient_name   text,
    channel          text        NOT NULL CHECK (channel IN ('sms', 'led', 'speaker')),
    address          text        NOT NULL,             -- phone number (E.164) or device id
    round            smallint    NOT NULL DEFAULT 1,   -- 2 = the 叫应 resend
    body             text        NOT NULL,
    state            text        NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sending', 'sent', 'delivered', 'undelivered', 'failed',
                                      'acked', 'cancelled')),
    in_doubt         boolean     NOT NULL DEFAULT false,  -- a send may have happened: reconcile first
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    provider_id      text,                              -- SMS SID, or MQTT command id
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (order_id, recipient, channel, round)
);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE state IN ('pending', 'sending');
CREATE INDEX deliveries_address_idx ON deliveries (address, created_at DESC);
CREATE UNIQUE INDEX deliveries_provider_idx ON deliveries (channel, provider_id) WHERE provider_id IS NOT NULL;

-- Signed acknowledgement links (/a/{token}): expiring and single-use. The token itself is not stored,
-- only its id; the signature is checked with FLOOD_SECRET_KEY.
CREATE TABLE ack_links (
    id           text        PRIMARY KEY,
    order_id     bigint      NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    town_code    text        NOT NULL,
    recipient    text        NOT NULL,
    person       text,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);

-- The SMS provider's view of each message, from signed status callbacks, by SID. Kept apart from
-- deliveries so that a callback arriving before the dispatcher has recorded the SID is not lost.
CREATE TABLE sms_status (
    sid          text        PRIMARY KEY,
    status       text        NOT NULL,     -- queued, sending, sent, delivered, undelivered, failed, …
    error_code   text,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
