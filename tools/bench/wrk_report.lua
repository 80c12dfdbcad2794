-- Shared by the wrk scripts of tools/bench/run: at the end of a run, prints one line
--   KEYTRAIL_WRK {"requests": ..., "duration_s": ..., ...}
-- that the runner parses (wrk's own text summary is printed above it); and, for the
-- scripts that replay pre-formatted requests, request() cycling through them.

-- The JSON request headers with the bearer token on the first line of `token_file`.
function admin_headers(token_file)
  local f = assert(io.open(token_file))
  local token = f:read("*l")
  f:close()
  return {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
end

local cycle, at = nil, 1

-- Makes request() return `list`'s requests in turn, from index `start`, forever.
function cycle_requests(list, start)
  if #list == 0 then error("no requests to send") end
  cycle, at = list, start
end

function request()
  local r = cycle[at]
  at = at % #cycle + 1
  return r
end
local function percentile_us(latency, p)
  return latency:percentile(p)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'KEYTRAIL_WRK {"requests": %d, "duration_s": %.6f, "bytes": %d, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_write": %d, ' ..
    '"errors_status": %d, "errors_timeout": %d, ' ..
    '"latency_mean_us": %.1f, "latency_p50_us": %d, "latency_p99_us": %d, ' ..
    '"latency_max_us": %d}\n',
    summary.requests, summary.duration / 1e6, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, percentile_us(latency, 50), percentile_us(latency, 99), latency.max))
end
