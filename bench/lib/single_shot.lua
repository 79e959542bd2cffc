-- W1: POST {"sql":"SELECT 1"} to one path with the bearer key, keep-alive (wrk's default).
-- BENCH_KEY and BENCH_PATH come from the environment.
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/v1/pools/bench/query"
wrk.body = '{"sql":"SELECT 1"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "")
