-- pgbench script: the PostgreSQL verify, an indexed lookup of a random existing key by
-- the SHA-256 of its secret (computed by the server, as keytrail computes it per verify).
--   pgbench -M prepared -n -f pg_verify.sql -D keys=N ...
\set id random(1, :keys)
SELECT org_id, group_id, permissions, expires_at, revoked_at
  FROM api_keys WHERE secret_hash = sha256(int8send(:id));
