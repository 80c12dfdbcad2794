-- wrk script: wrk_verify.lua at a fixed pace, for latency under other load rather than
-- throughput: each connection waits PAUSE_MS after each answer before its next request.
--   wrk -t1 -c8 -d10s -s tools/bench/wrk_verify_paced.lua http://127.0.0.1:PORT -- TOKENS_FILE PAUSE_MS
-- With 8 connections and 2 ms: at most 4,000 verifies/s, well under what one core answers,
-- so a latency that grows measures what other work does to verify, not a saturated server.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "wrk_verify.lua")

local verify_init = init
local pause_ms = 0

function init(args)
  verify_init(args)
  pause_ms = tonumber(args[2]) or error("usage: -- TOKENS_FILE PAUSE_MS")
end

function delay()
  return pause_ms
end
