-- W7: the 5-statement transaction (BEGIN implied, 2 INSERTs, 1 UPDATE, 1 SELECT of one of 1024
-- counter rows) in one POST, to PoolWarden's /transaction or the Flask service's.
-- BENCH_KEY and BENCH_PATH come from the environment; bench/lib/lease_driver.c (tx) runs the same
-- statements one call each.
local template = '{"statements":['
    .. '{"sql":"INSERT INTO bench_tx (n, note) VALUES ($1, \'first\')","params":[%d]},'
    .. '{"sql":"INSERT INTO bench_tx (n, note) VALUES ($1, \'second\')","params":[%d]},'
    .. '{"sql":"UPDATE bench_counter SET n = n + 1 WHERE id = $1","params":[%d]},'
    .. '{"sql":"SELECT id, n FROM bench_counter WHERE id = $1","params":[%d]}]}'
local path = os.getenv("BENCH_PATH") or "/v1/pools/bench/transaction"
local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or ""),
}

request = function()
    local row = math.random(1, 1024)
    return wrk.format("POST", path, headers, string.format(template, row, row, row, row))
end
