-- POST driver for wrk: a JSON body built from a template per request.
-- Args (after --): template, mode ("fixed" or "unique"), seed.
-- In "unique" mode every request gets a distinct nonce (so the prediction
-- cache never hits); in "fixed" mode the body never changes.
-- done() prints one JSON line prefixed with BENCHJSON for the harness.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  template = args[1]
  mode = args[2]
  seed = tonumber(args[3])
  n = 0
  defaults = 0
  oks = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if mode == "fixed" then
    wrk.body = string.gsub(template, "NONCE", "0.5")
  end
end

function request()
  if mode == "fixed" then
    return wrk.format()
  end
  n = n + 1
  local nonce = string.format("%.7f", (seed * 1000000 + n) * 1e-7)
  return wrk.format(nil, nil, nil, (string.gsub(template, "NONCE", nonce)))
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    oks = oks + 1
    if string.find(body, '"default":true', 1, true) or string.find(body, '"default": true', 1, true) then
      defaults = defaults + 1
    end
  end
end

function done(summary, latency, requests)
  local d, o = 0, 0
  for _, t in ipairs(threads) do
    d = d + t:get("defaults")
    o = o + t:get("oks")
  end
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"ok":%d,"defaults":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, o, d,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean))
end
