-- wrk script of the benchmark; bench/load.py fills in the placeholders (a dollar sign and
-- a name). It POSTs GraphQL bodies, counts non-200 and GraphQL-error answers, and prints
-- one BENCH_JSON line. `bodies` holds the bodies to cycle over; when it is empty, `prefix`
-- is sent alone, or with cycle > 0 as prefix .. "user" .. i .. suffix for i = 1..cycle.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
$headers
local bodies = $bodies
local prefix, suffix, cycle = $prefix, $suffix, $cycle
local i, b = 0, 0
request = function()
  if #bodies > 0 then
    b = b % #bodies + 1
    return wrk.format(nil, nil, nil, bodies[b])
  end
  if cycle == 0 then return wrk.format(nil, nil, nil, prefix) end
  i = i % cycle + 1
  return wrk.format(nil, nil, nil, prefix .. "user" .. i .. suffix)
end
bad = 0
response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then bad = bad + 1 end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local ge = 0
  for _, t in ipairs(threads) do ge = ge + t:get("bad") end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"non2xx":%d,"socket_errors":%d,"graphql_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout, ge))
end
