"""W5: scale of one PoolWarden process, driven over raw asyncio HTTP/1.1 (standard library only).

  scale.py --url http://127.0.0.1:P --key KEY --pid PID --phase pools   --pool p0000
  scale.py ... --phase leases  --pools l00,l01,... --leases 1000
  scale.py ... --phase waiters --pool q --holders 4 --waiters 5000 --wait-ms 30000

Each phase prints `KEY value` lines: rss_mb, get_pool_ms, get_pools_ms (median of 20 GETs) and, for
waiters, served / timed_out / other and peak_waiting. Exits 1 when a phase breaks.
"""
import argparse
import asyncio
import json
import statistics
import sys
import time
from urllib.parse import urlparse


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host, port, key):
        self.host, self.port, self.key = host, port, key
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def call(self, method, path, body=None):
        if self.writer is None:
            await self.open()
        data = b"" if body is None else json.dumps(body).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {self.key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
        self.writer.write(head.encode() + data)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        length, chunked = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode().partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if chunked:
            chunks = []
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                if size == 0:
                    await self.reader.readline()
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readline()
            payload = b"".join(chunks)
        else:
            payload = await self.reader.readexactly(length) if length else b""
        if method == "POST" and path.endswith("/leases"):
            # PoolWarden closes the connection after a borrow (DisconnectCancellationMiddleware
            # watches the inbound side to cancel a waiter whose client leaves); reconnect next time.
            self.close()
        return status, payload

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


async def time_get(conn, path, n=20):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, body = await conn.call("GET", path)
        times.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:200]!r}")
    return statistics.median(times), len(body)


async def report_status(args, conn, pool):
    pool_ms, pool_bytes = await time_get(conn, f"/v1/pools/{pool}")
    pools_ms, pools_bytes = await time_get(conn, "/v1/pools", n=10)
    print(f"rss_mb {rss_mb(args.pid):.1f}")
    print(f"get_pool_ms {pool_ms:.2f}")
    print(f"get_pools_ms {pools_ms:.2f}")
    print(f"get_pools_bytes {pools_bytes}")


async def phase_pools(args, host, port):
    conn = Conn(host, port, args.key)
    await report_status(args, conn, args.pool)
    conn.close()


async def phase_leases(args, host, port):
    pools = args.pools.split(",")
    workers = 32
    tokens = []
    failures = []

    async def worker(index):
        conn = Conn(host, port, args.key)
        for i in range(index, args.leases, workers):
            status, body = await conn.call("POST", f"/v1/pools/{pools[i % len(pools)]}/leases",
                                           {"ttl_ms": 600000, "wait_ms": 30000})
            if status == 201:
                tokens.append(json.loads(body)["token"])
            else:
                failures.append((status, body[:200]))
        conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    print(f"leases_held {len(tokens)}")
    print(f"borrow_s {time.perf_counter() - t0:.2f}")
    if failures:
        print(f"lease failures: {failures[:3]}", file=sys.stderr)
    conn = Conn(host, port, args.key)
    await report_status(args, conn, pools[0])
    conn.close()
    if len(tokens) != args.leases:
        sys.exit(1)


async def phase_waiters(args, host, port):
    admin = Conn(host, port, args.key)
    holders = []
    for _ in range(args.holders):
        status, body = await admin.call("POST", f"/v1/pools/{args.pool}/leases", {"ttl_ms": 600000})
        if status != 201:
            raise RuntimeError(f"holder borrow answered {status}: {body[:200]!r}")
        holders.append(json.loads(body)["token"])
    results = {}
    release = asyncio.Event()

    async def waiter():
        conn = Conn(host, port, args.key)
        try:
            for attempt in range(20):  # a full listen backlog refuses connects for a moment
                try:
                    await conn.open()
                    break
                except OSError:
                    await asyncio.sleep(0.05 * (attempt + 1))
            status, body = await conn.call("POST", f"/v1/pools/{args.pool}/leases",
                                           {"ttl_ms": 60000, "wait_ms": args.wait_ms})
            if status == 201:
                token = json.loads(body)["token"]
                rel, _ = await conn.call("DELETE", f"/v1/leases/{token}")
                if rel != 204:
                    status = -rel
        except Exception as error:  # counted as "other"
            status = type(error).__name__
        finally:
            conn.close()
        results[status] = results.get(status, 0) + 1

    tasks = [asyncio.create_task(waiter()) for _ in range(args.waiters)]
    # Wait until every borrow is queued (or 30 s), then measure while they wait.
    waiting = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, body = await admin.call("GET", f"/v1/pools/{args.pool}")
        waiting = json.loads(body)["counts"]["waiting"]
        if waiting >= args.waiters:
            break
        await asyncio.sleep(0.2)
    print(f"peak_waiting {waiting}")
    await report_status(args, admin, args.pool)
    t0 = time.perf_counter()
    for token in holders:
        await admin.call("DELETE", f"/v1/leases/{token}")
    await asyncio.gather(*tasks)
    print(f"drain_s {time.perf_counter() - t0:.2f}")
    served = results.pop(201, 0)
    timed_out = results.pop(503, 0)
    print(f"served {served}")
    print(f"timed_out {timed_out}")
    print(f"other {sum(results.values())}")
    if results:
        print(f"other answers: {results}", file=sys.stderr)
    admin.close()
    if served + timed_out != args.waiters:
        sys.exit(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--phase", choices=["pools", "leases", "waiters"], required=True)
    p.add_argument("--pool", default="p0000")
    p.add_argument("--pools", default="")
    p.add_argument("--leases", type=int, default=1000)
    p.add_argument("--holders", type=int, default=4)
    p.add_argument("--waiters", type=int, default=5000)
    p.add_argument("--wait-ms", type=int, default=30000)
    args = p.parse_args()
    u = urlparse(args.url)
    phase = {"pools": phase_pools, "leases": phase_leases, "waiters": phase_waiters}[args.phase]
    asyncio.run(phase(args, u.hostname, u.port))


if __name__ == "__main__":
    main()
