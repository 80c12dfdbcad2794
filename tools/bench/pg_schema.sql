-- PostgreSQL baseline of tools/bench/run: the tables a conventional key service keeps.
-- psql -v keys=N -f pg_schema.sql loads N keys (key i's secret hash is
-- sha256(int8send(i)), so pg_verify.sql can look up a random existing key by hash).
-- Secondary indexes are built after the load, as a bulk import would.
CREATE TABLE api_keys (
  id          bigserial PRIMARY KEY,
  org_id      text        NOT NULL,
  name        text        NOT NULL,
  group_id    text        NOT NULL,
  secret_hash bytea       NOT NULL,
  hint        text        NOT NULL,
  permissions text[]      NOT NULL DEFAULT '{}',
  created_by  text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz,
  revoked_at  timestamptz
);

CREATE TABLE audit_log (
  id      bigserial   PRIMARY KEY,
  org_id  text        NOT NULL,
  key_id  bigint      NOT NULL,
  actor   text        NOT NULL,
  action  text        NOT NULL,
  at      timestamptz NOT NULL DEFAULT now(),
  detail  jsonb       NOT NULL
);

-- Names of the keys pg_create.sql inserts.
CREATE SEQUENCE bench_names;

INSERT INTO api_keys (org_id, name, group_id, secret_hash, hint, created_by, expires_at)
SELECT 'org-' || (i % 100), 'key-' || i, 'developer', sha256(int8send(i)),
       'kt_...' || (i % 10000), 'loader', now() + interval '30 days'
FROM generate_series(1, :keys) AS i;

CREATE UNIQUE INDEX api_keys_by_hash ON api_keys (secret_hash);        -- verify
CREATE UNIQUE INDEX api_keys_by_name ON api_keys (org_id, name);       -- names unique per org
CREATE INDEX audit_log_by_key ON audit_log (org_id, key_id, at);       -- audit by key
VACUUM ANALYZE;
