-- pgbench script: the PostgreSQL durable create, a key row and its audit row in one
-- transaction (run with fsync=on, synchronous_commit=on: COMMIT waits for the WAL flush).
--   pgbench -M prepared -n -f pg_create.sql ...
BEGIN;
INSERT INTO api_keys (org_id, name, group_id, secret_hash, hint, created_by, expires_at)
  VALUES ('org-1', 'bench-' || nextval('bench_names'), 'developer',
          sha256(uuid_send(gen_random_uuid())), 'kt_...', 'bench',
          now() + interval '30 days')
  RETURNING id AS key_id \gset
INSERT INTO audit_log (org_id, key_id, actor, action, detail)
  VALUES ('org-1', :key_id, 'bench', 'key.created',
          '{"group": "developer", "expires": "30d"}');
COMMIT;
