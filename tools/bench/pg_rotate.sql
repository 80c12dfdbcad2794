-- pgbench script: the PostgreSQL durable rotate, a random existing key's secret replaced
-- and an audit row, in one transaction (fsync=on, synchronous_commit=on).
--   pgbench -M prepared -n -D keys=N -f pg_rotate.sql ...
\set id random(1, :keys)
BEGIN;
UPDATE api_keys SET secret_hash = sha256(uuid_send(gen_random_uuid())), hint = 'kt_...'
  WHERE id = :id;
INSERT INTO audit_log (org_id, key_id, actor, action, detail)
  VALUES ('org-1', :id, 'bench', 'key.rotated', '{"grace": "0s"}');
COMMIT;
