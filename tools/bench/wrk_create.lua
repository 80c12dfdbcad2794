-- wrk script: durable key creates, POST /v1/orgs/ORG/keys with the admin token, each
-- with a unique name ("<run>-<thread>-<n>", at most 50 characters).
--   wrk -t1 -c16 -d10s -s tools/bench/wrk_create.lua http://127.0.0.1:PORT -- ORG TOKEN_FILE RUN
-- Any answer but 2xx counts as an error in wrk's summary (errors_status); the runner
-- treats a run with errors as failed.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "wrk_report.lua")

local next_thread = 0
function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

local path, headers, prefix
local n = 0

function init(args)
  local org, token_file, run = args[1], args[2], args[3]
  if not (org and token_file and run) then error("usage: -- ORG TOKEN_FILE RUN") end
  path = "/v1/orgs/" .. org .. "/keys"
  headers = admin_headers(token_file)
  prefix = run .. "-" .. thread_index .. "-"
end

function request()
  n = n + 1
  local body = '{"name": "' .. prefix .. n .. '", "group": "developer", "expires": "30d"}'
  return wrk.format("POST", path, headers, body)
end
