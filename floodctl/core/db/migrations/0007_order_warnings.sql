-- Which warnings an order answers: the rule engine adds further warnings of the same hazard and level
-- to a draft that still awaits a commander, instead of drafting one order per gauge.
CREATE TABLE order_warnings (
    order_id    bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    warning_id  bigint NOT NULL REFERENCES warnings (id) ON DELETE CASCADE,
    PRIMARY KEY (order_id, warning_id)
);
CREATE INDEX order_warnings_warning_idx ON order_warnings (warning_id);
INSERT INTO order_warnings (order_id, warning_id) SELECT id, warning_id FROM orders WHERE warning_id IS NOT NULL;
