-- wrk script: durable rotations, POST /v1/orgs/ORG/keys/ID/rotate {"grace": "0s"} with the
-- admin token, cycling through existing key ids (one per line in IDS_FILE).
--   wrk -t1 -c16 -d10s -s tools/bench/wrk_rotate.lua http://127.0.0.1:PORT -- ORG TOKEN_FILE IDS_FILE
-- Any answer but 2xx counts as an error in wrk's summary (errors_status).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "wrk_report.lua")

function init(args)
  local org, token_file, ids_file = args[1], args[2], args[3]
  if not (org and token_file and ids_file) then error("usage: -- ORG TOKEN_FILE IDS_FILE") end
  local headers = admin_headers(token_file)
  local requests = {}
  for id in io.lines(ids_file) do
    if #id > 0 then
      requests[#requests + 1] = wrk.format("POST", "/v1/orgs/" .. org .. "/keys/" .. id .. "/rotate",
                                           headers, '{"grace": "0s"}')
    end
  end
  if #requests == 0 then error("no ids in " .. ids_file) end
  cycle_requests(requests, math.random(#requests))
end
