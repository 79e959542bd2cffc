-- W1's single shot and the cluster workload: POST {"sql":"SELECT 1"} with the bearer key,
-- keep-alive, every answer counted by status; at the end, the counts and the latency figures as
-- key value lines for bench/run. BENCH_KEY and BENCH_PATH come from the environment. With
-- BENCH_TOKENS (lease tokens, comma-separated) each wrk thread queries one lease of its own,
-- /v1/leases/{token}/query: run it with as many threads as connections (-tN -cN), since a lease
-- runs one statement at a time.
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/v1/pools/bench/query"
wrk.body = '{"sql":"SELECT 1"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "")

local threads = {}
local tokens = {}
for token in string.gmatch(os.getenv("BENCH_TOKENS") or "", "[^,]+") do
    table.insert(tokens, token)
end

function setup(thread)
    table.insert(threads, thread)
    if #tokens > 0 then
        thread:set("token", tokens[(#threads - 1) % #tokens + 1])
    end
end

function init(args)
    statuses = {}
    if token then
        wrk.path = "/v1/leases/" .. token .. "/query"
    end
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
    local merged = {}
    for _, thread in ipairs(threads) do
        for status, count in pairs(thread:get("statuses")) do
            merged[status] = (merged[status] or 0) + count
        end
    end
    for status, count in pairs(merged) do
        io.write(string.format("status_%d %d\n", status, count))
    end
    local errors = summary.errors
    io.write(string.format("requests %d\n", summary.requests))
    io.write(string.format("rps %.0f\n", summary.requests / (summary.duration / 1e6)))
    io.write(string.format("p50_us %d\np99_us %d\nmax_us %d\n", latency:percentile(50), latency:percentile(99), latency.max))
    io.write(string.format("socket_errors %d\n", errors.connect + errors.read + errors.write + errors.timeout))
end
