-- wrk script: GET through a gateway with keep-alive, cycling through valid tokens sent as
-- "Authorization: Bearer".
--   wrk -t1 -c16 -d10s -s tools/bench/wrk_gateway.lua http://127.0.0.1:PORT -- TOKENS_FILE PATH
-- TOKENS_FILE holds one token per line; PATH is the protected path requested.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "wrk_report.lua")

function init(args)
  local path = args[1] or error("usage: -- TOKENS_FILE PATH")
  local target = args[2] or error("usage: -- TOKENS_FILE PATH")
  local requests = {}
  for token in io.lines(path) do
    if #token > 0 then
      requests[#requests + 1] =
        wrk.format("GET", target, {["Authorization"] = "Bearer " .. token})
    end
  end
  if #requests == 0 then error("no tokens in " .. path) end
  cycle_requests(requests, math.random(#requests))
end
