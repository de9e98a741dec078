-- customergroup-rpc schema version 1 (issue 12). Applied by pg_migrate.migrate in one
-- transaction with its row in schema_migrations. A shop column leads every key (default 1), so
-- several shops per deployment later need no re-keying.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- migrate() creates this table before it reads the version: IF NOT EXISTS, same definition.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    applied timestamptz NOT NULL DEFAULT now()
);

-- uids: UPDATE ... SET last_uid = last_uid + 1 RETURNING, in the create's transaction: a
-- refused create consumes none, so both stores hand out 1, 2, 3 alike (a SEQUENCE would leave
-- gaps on rollback); the row lock serialises creates per shop (SPEC 8).
CREATE TABLE uid_counters (
    shop bigint PRIMARY KEY,
    last_uid bigint NOT NULL
);

CREATE TABLE customergroups (
    shop bigint NOT NULL DEFAULT 1,
    uid bigint NOT NULL,
    name text NOT NULL,
    name_key text COLLATE "C" NOT NULL,        -- text.fold(name), computed in Python
    created timestamptz NOT NULL,
    changed timestamptz NOT NULL,
    customer_count integer NOT NULL DEFAULT 0, -- kept in the membership change's transaction
    PRIMARY KEY (shop, uid)
);
-- Uniqueness by the database; name order; startsWith (C collation: LIKE 'p%' uses it).
CREATE UNIQUE INDEX customergroups_name_key ON customergroups (shop, name_key);
-- contains / endsWith.
CREATE INDEX customergroups_name_trgm ON customergroups USING gin (name_key gin_trgm_ops);
CREATE INDEX customergroups_created ON customergroups (shop, created, uid);
CREATE INDEX customergroups_changed ON customergroups (shop, changed, uid);
CREATE INDEX customergroups_count ON customergroups (shop, customer_count, uid);

CREATE TABLE memberships (
    shop bigint NOT NULL DEFAULT 1,
    group_uid bigint NOT NULL,
    customer bigint NOT NULL,
    PRIMARY KEY (shop, group_uid, customer),
    FOREIGN KEY (shop, group_uid) REFERENCES customergroups (shop, uid) ON DELETE CASCADE
);
CREATE INDEX memberships_customer ON memberships (shop, customer);

-- Exactly tokens.TokenRecord's fields; a token itself is never stored, only its SHA-256.
CREATE TABLE tokens (
    id text PRIMARY KEY,
    scope text NOT NULL,
    sha256 text NOT NULL UNIQUE,
    created text NOT NULL
);
