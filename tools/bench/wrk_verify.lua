-- wrk script: POST /v1/verify with keep-alive, cycling through valid tokens.
--   wrk -t1 -c16 -d10s -s tools/bench/wrk_verify.lua http://127.0.0.1:PORT -- TOKENS_FILE
-- TOKENS_FILE holds one token per line (keys created over the API beforehand). Each wrk
-- thread starts at a different place in the list; requests are pre-formatted in init()
-- so the client spends its time on the wire, not in Lua.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "wrk_report.lua")

local next_thread = 0
function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  local path = args[1] or error("usage: -- TOKENS_FILE")
  local headers = {["Content-Type"] = "application/json"}
  local requests = {}
  for token in io.lines(path) do
    if #token > 0 then
      requests[#requests + 1] =
        wrk.format("POST", "/v1/verify", headers, '{"key": "' .. token .. '"}')
    end
  end
  if #requests == 0 then error("no tokens in " .. path) end
  -- Spread the threads over the list.
  cycle_requests(requests, (thread_index * 7919) % #requests + 1)
end
