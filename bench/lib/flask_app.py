"""The baseline a user would write themselves: Flask + psycopg_pool, one pool per gunicorn worker,
running the posted SQL on a pooled connection. Same routes and bodies as PoolWarden's single shot
and transaction. BENCH_CONNINFO, BENCH_KEY and BENCH_POOL_MAX come from the environment."""
import os
import re

from flask import Flask, abort, jsonify, request
from psycopg_pool import ConnectionPool

app = Flask(__name__)
KEY = "Bearer " + os.environ.get("BENCH_KEY", "")
pool = ConnectionPool(os.environ["BENCH_CONNINFO"], min_size=int(os.environ.get("BENCH_POOL_MAX", "8")),
                      max_size=int(os.environ.get("BENCH_POOL_MAX", "8")), open=True)


@app.post("/v1/pools/<name>/query")
def query(name):
    if request.headers.get("Authorization") != KEY:
        abort(401)
    body = request.get_json(force=True)
    with pool.connection() as conn:
        cur = conn.execute(body["sql"], body.get("params") or None)
        columns = [{"name": d.name, "type": str(d.type_code)} for d in (cur.description or [])]
        rows = [list(r) for r in cur.fetchall()] if cur.description else []
        return jsonify(command=cur.statusmessage.split()[0] if cur.statusmessage else "",
                       row_count=cur.rowcount, columns=columns, rows=rows)


def result(cur):
    columns = [{"name": d.name, "type": str(d.type_code)} for d in (cur.description or [])]
    rows = [list(r) for r in cur.fetchall()] if cur.description else []
    return dict(command=cur.statusmessage.split()[0] if cur.statusmessage else "",
                row_count=cur.rowcount, columns=columns, rows=rows)


# psycopg spells PostgreSQL's $1, $2 as %s, in order: enough for statements that use each
# parameter once, in order, as the W7 transaction's do.
PLACEHOLDER = re.compile(r"\$\d+")


@app.post("/v1/pools/<name>/transaction")
def transaction(name):
    if request.headers.get("Authorization") != KEY:
        abort(401)
    body = request.get_json(force=True)
    with pool.connection() as conn, conn.transaction():
        results = [result(conn.execute(PLACEHOLDER.sub("%s", s["sql"]), s.get("params") or None))
                   for s in body["statements"]]
    return jsonify(results=results, attempts=1)


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
