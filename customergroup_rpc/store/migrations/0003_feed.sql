-- customergroup-rpc schema version 3 (issue 15): versions, the change feed, token labels.
-- Numbered 3 and independent of version 2: migrate() runs every file it has not recorded, in
-- order of number, whatever numbers are missing or arrive later. The shop leads every key.

-- 1 at creation, +1 in the transaction of every change of the name or the members.
ALTER TABLE customergroups ADD COLUMN version bigint NOT NULL DEFAULT 1;

-- The newest position of each shop's feed, and up to which position events were dropped
-- (retention). Every write locks its shop's row first, so positions follow commit order: a
-- reader never sees position n + 1 before n (a sequence would hand them out in start order).
CREATE TABLE feed_heads (
    shop bigint PRIMARY KEY,
    last_position bigint NOT NULL DEFAULT 0,
    horizon bigint NOT NULL DEFAULT 0
);

-- One row per event, written in the transaction of its change. The columns a filter reads,
-- then the event as clients see it less its position (store/feed.py).
CREATE TABLE events (
    shop bigint NOT NULL DEFAULT 1,
    position bigint NOT NULL,
    uid bigint NOT NULL,
    to_uid bigint,                 -- customersMoved: the group the customers went to
    token_id text,
    at timestamptz NOT NULL,
    event jsonb NOT NULL,
    PRIMARY KEY (shop, position)
);
CREATE INDEX events_uid ON events (shop, uid, position);
CREATE INDEX events_to_uid ON events (shop, to_uid, position) WHERE to_uid IS NOT NULL;
CREATE INDEX events_token ON events (shop, token_id, position);
CREATE INDEX events_at ON events (shop, at);

-- token create --label TEXT: a name for people, shown by token list.
ALTER TABLE tokens ADD COLUMN label text NOT NULL DEFAULT '';
