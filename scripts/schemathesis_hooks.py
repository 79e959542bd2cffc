"""Schemathesis hooks for scripts/schemathesis: keep the service answering quickly between cases.

Generated cases change the service's state as real clients would: a borrow holds a connection for
its ttl_ms (up to a day), a pause makes every later borrow wait its wait_ms (up to five minutes),
a created pool may hold connections of its own, a delete removes `billing` or `reports`. Left
alone, a few hundred cases in, every borrow waits out its full wait and the run takes hours.
After each case (its answer already recorded and checked as it was) these hooks put the state
back: the lease is released, the pool resumed, the created pool deleted, the deleted one created
again. Each such call must succeed, or the run stops: the service is then not what it claims.

Generated tokens never name a live lease, so every other case of the four lease operations gets
a real one, borrowed just before it: the reads, renewals, statements and releases of live leases
are tried too, not only their 404s.
"""

import json
import os
import urllib.error
import urllib.parse
import urllib.request

import schemathesis

BASE = os.environ["ST_URL"]
ADMIN = os.environ["ST_ADMIN_KEY"]
# The pools the run starts with, as POST /v1/pools bodies, to bring back a deleted one.
POOLS = json.loads(os.environ["ST_POOLS"])


LEASE_OPERATIONS = {
    "GET /v1/leases/{token}",
    "DELETE /v1/leases/{token}",
    "POST /v1/leases/{token}/renew",
    "POST /v1/leases/{token}/query",
}
_lease_cases = 0
_lent = {}


def _admin(method, path, body=None, expect=(200, 201, 204, 404, 410)):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + ADMIN)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, text = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    if status not in expect:
        raise AssertionError(f"cleanup {method} {path} answered {status}: {text[:300]!r}")
    return text


def _quote(segment):
    return urllib.parse.quote(segment, safe="")


@schemathesis.hook
def before_call(context, case, kwargs):
    global _lease_cases
    if case.operation.label not in LEASE_OPERATIONS:
        return
    _lease_cases += 1
    if _lease_cases % 2 == 0:
        lease = json.loads(_admin("POST", "/v1/pools/billing/leases", {"ttl_ms": 60000, "wait_ms": 5000}, expect=(201,)))
        case.path_parameters["token"] = lease["token"]
        _lent[id(case)] = lease["token"]


@schemathesis.hook
def after_call(context, case, response):
    label = case.operation.label
    status = response.status_code
    lent = _lent.pop(id(case), None)
    if lent:
        _admin("DELETE", "/v1/leases/" + _quote(lent))
    if label == "POST /v1/pools/{pool}/leases" and status in (200, 201):
        token = response.json().get("token")
        if token:
            _admin("DELETE", "/v1/leases/" + _quote(token))
    elif label == "POST /v1/pools/{pool}/pause" and status == 200:
        _admin("POST", "/v1/pools/" + _quote(case.path_parameters["pool"]) + "/resume")
    elif label == "POST /v1/pools" and status == 201:
        name = response.json().get("name")
        if name and name not in POOLS:
            _admin("DELETE", "/v1/pools/" + _quote(name))
    elif label == "DELETE /v1/pools/{pool}" and status == 204:
        name = case.path_parameters["pool"]
        if name in POOLS:
            _admin("POST", "/v1/pools", POOLS[name], expect=(201,))
    elif label == "PATCH /v1/pools/{pool}" and status == 200:
        name = case.path_parameters["pool"]
        if name in POOLS:
            # Limits, timeouts and conninfo back as they were: a max of 1 with a five-minute
            # borrow_timeout would make later borrows wait, another conninfo answer 502.
            settings = {k: v for k, v in POOLS[name].items() if k != "name"}
            settings["password"] = ""
            _admin("PATCH", "/v1/pools/" + _quote(name), settings, expect=(200,))
