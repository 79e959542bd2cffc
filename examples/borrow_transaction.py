#!/usr/bin/env python3
"""borrow_transaction.py: borrow a PostgreSQL connection from PoolWarden, run a transaction through
its token, and give it back, whatever happens. Python 3 standard library only (urllib).

Usage:
  export POOLWARDEN_URL=http://127.0.0.1:8080 POOLWARDEN_KEY=...   # the key: keep it out of argv
  examples/borrow_transaction.py [POOL [TABLE [AMOUNT...]]]

  POOL     pool to borrow from       (default: $POOLWARDEN_POOL, else billing)
  TABLE    table to insert into      (default: $POOLWARDEN_TABLE, else audit, which ./scripts/run
           creates); it needs the columns actor text, amount numeric, note text, e.g.
             CREATE TABLE audit (id serial PRIMARY KEY, actor text, amount numeric(10,2), note text,
                                 at timestamptz NOT NULL DEFAULT now());
  AMOUNT   one row per amount, all in one transaction (default: 12.50)

The same as borrow-transaction.sh: borrow (POST /v1/pools/POOL/leases), BEGIN, one INSERT per
amount and COMMIT through the token (POST /v1/leases/TOKEN/query), and release
(DELETE /v1/leases/TOKEN) in a `finally`, which runs after COMMIT, after a statement PostgreSQL
refused (`borrow_transaction.py billing audit 10 oops` inserts 10, then fails on "oops"), on Ctrl-C
and on SIGTERM. Releasing a lease whose transaction is still open makes PoolWarden roll it back, so a
failed run commits nothing. Neither the key nor the token is ever printed.

Exit status: 0 committed; 1 usage; 2 the service or PostgreSQL said no (the problem's code and
detail on stderr); 3 the service cannot be reached.
"""

import getpass
import http.client
import json
import os
import re
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request

ME = os.path.basename(sys.argv[0])


class Problem(Exception):
    """The service answered with an application/problem+json error."""

    def __init__(self, what, status, body):
        self.what = what
        self.status = status
        try:
            document = json.loads(body.decode("utf-8", "replace"))
        except ValueError:
            document = {}
        if not isinstance(document, dict):
            document = {}
        self.code = document.get("code") or "?"
        self.detail = document.get("detail") or body[:300].decode("utf-8", "replace")
        self.sqlstate = document.get("sqlstate")
        super().__init__(str(self))

    def __str__(self):
        state = f" (SQLSTATE {self.sqlstate})" if self.sqlstate else ""
        return f"{self.what} failed: HTTP {self.status} {self.code}{state}: {self.detail}"


class Unreachable(Exception):
    pass


class PoolWarden:
    def __init__(self, base_url, key, timeout=60):
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def call(self, what, method, path, body=None):
        """Returns (status, parsed JSON or None); raises Problem for an error answer."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + self.key)
        request.add_header("Accept", "application/json, application/problem+json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
                return response.status, (json.loads(payload) if payload else None)
        except urllib.error.HTTPError as error:
            try:
                payload = error.read()
            finally:
                error.close()
            raise Problem(what, error.code, payload) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            # The reason only: the URL of a lease call holds the token.
            reason = getattr(error, "reason", None) or error.__class__.__name__
            raise Unreachable(f"cannot reach PoolWarden at {self.base_url}: {reason}") from None

    def borrow(self, pool, **options):
        _, lease = self.call(f"borrow from pool {pool}", "POST", f"/v1/pools/{quote(pool)}/leases", options)
        return lease

    def query(self, token, sql, params=()):
        _, result = self.call(sql.split(None, 1)[0], "POST", f"/v1/leases/{quote(token)}/query",
                              {"sql": sql, "params": list(params)})
        return result

    def release(self, token):
        """True when released; False when the lease was already gone (expired, revoked, unknown)."""
        try:
            self.call("release", "DELETE", f"/v1/leases/{quote(token)}")
            return True
        except Problem as problem:
            if problem.status in (404, 410):
                return False
            raise


def user_name():
    try:
        return getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry, as in some containers
        return "unknown"


def quote(segment):
    return urllib.parse.quote(segment, safe="")


def main(argv):
    if argv[1:2] in (["-h"], ["--help"]):
        print(__doc__.split("\nThe same")[0], file=sys.stderr)
        return 1
    key = os.environ.get("POOLWARDEN_KEY", "")
    if not key:
        print(f"{ME}: set POOLWARDEN_KEY to your caller key", file=sys.stderr)
        return 1
    pool = argv[1] if len(argv) > 1 else os.environ.get("POOLWARDEN_POOL", "billing")
    table = argv[2] if len(argv) > 2 else os.environ.get("POOLWARDEN_TABLE", "audit")
    amounts = argv[3:] or ["12.50"]
    # The table name goes into the SQL text (values go as parameters): allow identifiers only.
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", table):
        print(f"{ME}: {table} is not a plain table name", file=sys.stderr)
        return 1

    # SIGTERM (a cron timeout, systemd, Kubernetes) becomes an exception, so `finally` releases.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    warden = PoolWarden(os.environ.get("POOLWARDEN_URL", "http://127.0.0.1:8080"), key)
    try:
        lease = warden.borrow(pool, ttl_ms=60000, wait_ms=5000)
        token = lease["token"]
        try:
            print(f"borrowed a connection from pool {pool} (backend pid {lease.get('backend_pid')})", flush=True)
            warden.query(token, "BEGIN")
            actor = user_name()
            for amount in amounts:
                warden.query(token, f"INSERT INTO {table} (actor, amount, note) VALUES ($1, $2, $3)",
                             [actor, amount, ME])
                print(f"inserted amount {amount} into {table}", flush=True)
            result = warden.query(token, "COMMIT")
            # COMMIT of a transaction that had failed answers ROLLBACK instead of an error.
            if result.get("command") != "COMMIT":
                print(f"{ME}: COMMIT answered {result.get('command')}: nothing was committed", file=sys.stderr)
                return 2
            print(f"committed {len(amounts)} row(s)", flush=True)
            return 0
        finally:
            # Runs on success, on a refused statement, on Ctrl-C and on SIGTERM. An open transaction
            # is rolled back by the service before the connection is reused.
            try:
                if warden.release(token):
                    print("released the lease", flush=True)
                else:
                    print("the lease was already gone", flush=True)
            except (Problem, Unreachable) as error:
                print(f"{ME}: {error}; the lease expires after its ttl", file=sys.stderr)
    except Problem as problem:
        print(f"{ME}: {problem}", file=sys.stderr)
        return 2
    except Unreachable as error:
        print(f"{ME}: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv))
