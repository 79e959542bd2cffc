"""W6: starts `poolwarden serve --config FILE`, polls /readyz every 2 ms and prints ready_ms (start to
the first 200) and open_ms (start to every pool's `min` connections open, from GET /v1/pools), then
stops it with SIGTERM.  usage: startup.py BINARY CONFIG PORT KEY EXPECTED_OPEN"""
import http.client
import json
import subprocess
import sys
import time

binary, config, port, key, expected = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
log = open(config + ".log", "w")
t0 = time.perf_counter()
proc = subprocess.Popen([binary, "serve", "--config", config], stdout=log, stderr=subprocess.STDOUT)
ready_ms = open_ms = None
try:
    deadline = t0 + 60
    while time.perf_counter() < deadline and (ready_ms is None or open_ms is None):
        if proc.poll() is not None:
            sys.exit(f"poolwarden exited with {proc.returncode}; see {config}.log")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            if ready_ms is None:
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    ready_ms = (time.perf_counter() - t0) * 1000
            else:
                c.request("GET", "/v1/pools", headers={"Authorization": "Bearer " + key})
                r = c.getresponse()
                body = json.loads(r.read())
                if sum(p["counts"]["open"] for p in body["pools"]) >= expected:
                    open_ms = (time.perf_counter() - t0) * 1000
            c.close()
        except (ConnectionError, OSError, http.client.HTTPException):
            pass
        time.sleep(0.002)
    if ready_ms is None or open_ms is None:
        sys.exit("not ready within 60 s")
    print(f"ready_ms {ready_ms:.0f}")
    print(f"open_ms {open_ms:.0f}")
finally:
    proc.terminate()
    proc.wait(timeout=30)
