-- The one wrk script behind every warm scenario of scripts/bench, configured by environment:
--   BENCH_METHOD, BENCH_BODY (JSON), BENCH_AUTH (Authorization header value);
--   BENCH_COOKIES: a file of refresh tokens, one per line; each thread (one connection each)
--     takes its own and follows the rotation, as a browser keeping its cookie would;
--   BENCH_BODIES: a file of request bodies, one per line; each thread takes its own (logins of
--     distinct accounts: one account's parallel attempts run into its login back-off);
--   BENCH_OUT: where done() writes the results as JSON.

local counter = 0

-- The n-th line of a file, or nil.
local function nth_line(path, n)
  local i = 0
  for line in io.lines(path) do
    i = i + 1
    if i == n then return line end
  end
end

function setup(thread)
  counter = counter + 1
  local cookies, bodies = os.getenv("BENCH_COOKIES"), os.getenv("BENCH_BODIES")
  if cookies then thread:set("cookie", nth_line(cookies, counter)) end
  if bodies then thread:set("own_body", nth_line(bodies, counter)) end
end

function init(args)
  wrk.method = os.getenv("BENCH_METHOD") or "GET"
  local body = own_body or os.getenv("BENCH_BODY")
  if body and body ~= "" then
    wrk.body = body
    wrk.headers["Content-Type"] = "application/json"
  end
  local auth = os.getenv("BENCH_AUTH")
  if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
end

-- wrk calls request() and response() for every request when a script defines them, which costs
-- its own CPU on this shared machine: they are defined only for the cookie-following scenario.
if os.getenv("BENCH_COOKIES") then
  function request()
    return wrk.format("POST", nil, { ["Cookie"] = "refresh_token=" .. cookie }, "")
  end

  function response(status, headers, body)
    local set = headers["set-cookie"] or headers["Set-Cookie"]
    local value = set and set:match("refresh_token=([^;]+)")
    if value then cookie = value end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local file = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  file:write(string.format(
    '{"duration_us":%d,"requests":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}',
    summary.duration, summary.requests, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
  file:close()
end
