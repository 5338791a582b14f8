-- wrk script of bench/run.py: POST the body in $BENCH_BODY; with $BENCH_DISTINCT_HEAD and
-- $BENCH_DISTINCT_TAIL set, each request carries a new counter between them (a conversation
-- the server has not seen). Prints one JSON line when done.
local function slurp(path)
  local f = assert(io.open(path, "rb")); local s = f:read("*a"); f:close(); return s
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = slurp(os.getenv("BENCH_BODY"))
local head_path, tail_path = os.getenv("BENCH_DISTINCT_HEAD"), os.getenv("BENCH_DISTINCT_TAIL")
if head_path and head_path ~= "" then
  local head, tail, salt = slurp(head_path), slurp(tail_path), os.getenv("BENCH_SALT") or "0"
  local counter = 0
  request = function()
    counter = counter + 1
    return wrk.format(nil, nil, nil, head .. salt .. "-" .. counter .. tail)
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non2xx":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, math.floor(latency:percentile(50)),
    math.floor(latency:percentile(99)), e.status, e.connect + e.read + e.write + e.timeout))
end
