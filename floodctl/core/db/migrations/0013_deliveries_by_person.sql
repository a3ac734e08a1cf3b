-- Deliveries keyed by town and person, and SMS replies remembered by MessageSid. Owned by alerts/orders.py.
--
-- 0005 made an outbox row unique on (order_id, recipient, channel, round) with recipient the roster rank
-- (primary/deputy/superior): every town's primary of one order collided, and all but the first town's SMS
-- were dropped. A row is one call of one town's person (or one town's device, or one HQ duty phone told of
-- one town's 叫应 trouble): the town is part of its identity.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_order_id_recipient_channel_round_key;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_one_call_key UNIQUE (order_id, town_code, recipient, channel, round);

-- Inbound SMS replies, one row per provider MessageSid: a replayed (re-posted, still validly signed) reply
-- finds its row and changes nothing; the first answer is given again. ``gateway`` is the gateway whose
-- token signed it: a live reply only ever answers live orders (drill_id = 0), a drill reply only drills.
CREATE TABLE sms_replies (
    message_sid  text        PRIMARY KEY,
    gateway      text        NOT NULL CHECK (gateway IN ('live', 'drill')),
    from_phone   text        NOT NULL,
    body         text        NOT NULL,
    order_id     bigint      REFERENCES orders (id) ON DELETE SET NULL,
    towns        text[]      NOT NULL DEFAULT '{}',     -- the towns it acknowledged or reported for
    outcome      text        NOT NULL DEFAULT 'received'
                 CHECK (outcome IN ('received', 'acknowledged', 'carried_out', 'unmatched', 'help')),
    answer_zh    text        NOT NULL DEFAULT '',       -- what we answered (TwiML message), given again on a replay
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sms_replies_order_idx ON sms_replies (order_id) WHERE order_id IS NOT NULL;
