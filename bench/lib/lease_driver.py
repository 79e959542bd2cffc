"""W2 / W3: N clients, each looping borrow -> [query SELECT 1 ->] release over HTTP/1.1 keep-alive
(reconnecting after each borrow: PoolWarden closes the connection after a borrow, and wrk, which
writes the next call into the closing socket, loses answers and so leaks leases).

  lease_driver.py URL KEY POOL CLIENTS SECONDS brq|br

Prints `cycles_per_s`, per-call latency `p50_us p99_us p999_us` (every HTTP call, borrow, query and
release alike), `pair_p50_us pair_p99_us pair_p999_us` (one whole cycle) and `failures`.
"""
import asyncio
import json
import sys
import time
from urllib.parse import urlparse

from scale import Conn

url, key, pool, clients, seconds, cycle = sys.argv[1:7]
clients, seconds = int(clients), float(seconds)
u = urlparse(url)
calls, pairs = [], []
failures = []
cycles = 0


async def client(deadline):
    global cycles
    conn = Conn(u.hostname, u.port, key)
    perf = time.perf_counter
    while perf() < deadline:
        t0 = perf()
        status, body = await conn.call("POST", f"/v1/pools/{pool}/leases", {"ttl_ms": 60000})
        t1 = perf()
        calls.append(t1 - t0)
        if status != 201:
            failures.append(f"borrow {status} {body[:160]!r}")
            continue
        token = json.loads(body)["token"]
        if cycle == "brq":
            status, body = await conn.call("POST", f"/v1/leases/{token}/query", {"sql": "SELECT 1"})
            t2 = perf()
            calls.append(t2 - t1)
            t1 = t2
            if status != 200:
                failures.append(f"query {status} {body[:160]!r}")
        status, body = await conn.call("DELETE", f"/v1/leases/{token}")
        t3 = perf()
        calls.append(t3 - t1)
        pairs.append(t3 - t0)
        if status != 204:
            failures.append(f"release {status} {body[:160]!r}")
        else:
            cycles += 1
    conn.close()


def pct(values, p):
    values = sorted(values)
    return int(values[min(len(values) - 1, int(len(values) * p / 100))] * 1e6) if values else 0


async def main():
    # Warm up for a second (connections, caches), then measure.
    warm = time.perf_counter() + min(1.0, seconds / 4)
    await asyncio.gather(*(client(warm) for _ in range(clients)))
    global cycles
    calls.clear(); pairs.clear(); cycles = 0
    start = time.perf_counter()
    await asyncio.gather(*(client(start + seconds) for _ in range(clients)))
    elapsed = time.perf_counter() - start
    print(f"cycles_per_s {cycles / elapsed:.0f}")
    print(f"p50_us {pct(calls, 50)}\np99_us {pct(calls, 99)}\np999_us {pct(calls, 99.9)}")
    print(f"pair_p50_us {pct(pairs, 50)}\npair_p99_us {pct(pairs, 99)}\npair_p999_us {pct(pairs, 99.9)}")
    print(f"failures {len(failures)}")
    if failures:
        print("last failure: " + failures[-1], file=sys.stderr)


asyncio.run(main())
