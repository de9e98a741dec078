-- customergroup-rpc schema version 2 (issue 14): several shops per deployment. The data of a
-- version 1 database is shop 1's already (the shop column leads every key, default 1); shop 1
-- is in every deployment whether or not this table records it (shops.with_first).

-- Written by shop create (pg_shops.create), in one transaction with the shop's uid counter.
CREATE TABLE shops (
    id bigint PRIMARY KEY CHECK (id > 0),
    name text NOT NULL,
    language text NOT NULL CHECK (language IN ('sv', 'en', 'nb', 'da')),
    created text NOT NULL
);

-- The shops a token opens; NULL: every shop (the tokens made before shops, the environment's).
ALTER TABLE tokens ADD COLUMN shops bigint[];

-- contains / endsWith within one shop: the shop leads this index too (btree_gin lets a GIN
-- index hold the bigint beside the trigrams; both extensions are in PostgreSQL's contrib).
CREATE EXTENSION IF NOT EXISTS btree_gin;
DROP INDEX customergroups_name_trgm;
CREATE INDEX customergroups_name_trgm ON customergroups USING gin (shop, name_key gin_trgm_ops);
