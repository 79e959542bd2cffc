"""The baseline a user would write themselves: Flask + psycopg_pool, one pool per gunicorn worker,
running the posted SQL on a pooled connection. Same route and body as PoolWarden's single shot.
BENCH_CONNINFO, BENCH_KEY and BENCH_POOL_MAX come from the environment."""
import os

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


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
