#!/usr/bin/env bash
# borrow-transaction.sh: borrow a PostgreSQL connection from PoolWarden, run a transaction through
# its token, and give it back, whatever happens. Needs only bash and curl.
#
# Usage:
#   export POOLWARDEN_URL=http://127.0.0.1:8080 POOLWARDEN_KEY=...   # the key: keep it out of argv
#   examples/borrow-transaction.sh [POOL [TABLE [AMOUNT...]]]
#
#   POOL     pool to borrow from       (default: $POOLWARDEN_POOL, else billing)
#   TABLE    table to insert into      (default: $POOLWARDEN_TABLE, else audit, which ./scripts/run
#            creates); it needs the columns actor text, amount numeric, note text, e.g.
#              CREATE TABLE audit (id serial PRIMARY KEY, actor text, amount numeric(10,2), note text,
#                                  at timestamptz NOT NULL DEFAULT now());
#   AMOUNT   one row per amount, all in one transaction (default: 12.50)
#
# What it does: borrow (POST /v1/pools/POOL/leases), then BEGIN, one INSERT per amount and COMMIT
# through the token (POST /v1/leases/TOKEN/query), then release (DELETE /v1/leases/TOKEN).
#   - The release runs from `trap ... EXIT`, so it happens however the script ends: after COMMIT,
#     after a statement PostgreSQL refused (`examples/borrow-transaction.sh billing audit 10 oops`
#     inserts 10, then fails on "oops"), on Ctrl-C or on SIGTERM. Releasing a lease whose
#     transaction is still open makes PoolWarden roll it back, so a failed run commits nothing.
#   - Neither the key nor the token is ever printed, and neither appears in curl's argv (`ps` shows
#     it): curl reads the URL and the Authorization header from a config on a file descriptor.
#   - A lease this script forgot would not leak either: PoolWarden revokes it after its ttl.
#
# Exit status: 0 committed; 1 usage; 2 the service or PostgreSQL said no (the problem's code and
# detail on stderr); 3 the service cannot be reached.
set -euo pipefail

me=${0##*/}
base_url=${POOLWARDEN_URL:-http://127.0.0.1:8080}
base_url=${base_url%/}
pool=${1:-${POOLWARDEN_POOL:-billing}}
table=${2:-${POOLWARDEN_TABLE:-audit}}
if (($# > 2)); then amounts=("${@:3}"); else amounts=(12.50); fi

usage() { sed -n '4,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 1; }
[[ ${1-} == -h || ${1-} == --help ]] && usage
if [[ -z ${POOLWARDEN_KEY-} ]]; then echo "$me: set POOLWARDEN_KEY to your caller key" >&2; exit 1; fi
# The table name goes into the SQL text (values go as parameters): allow identifiers only.
if [[ ! $table =~ ^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$ ]]; then
    echo "$me: $table is not a plain table name" >&2; exit 1
fi
if [[ ! $pool =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$ ]]; then echo "$me: $pool is not a pool name" >&2; exit 1; fi

answer=$(mktemp "${TMPDIR:-/tmp}/poolwarden-answer.XXXXXX")   # mode 0600: a borrow answer holds the token
token=

# A JSON string literal for $1.
json_string() {
    local s=$1
    s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\r'/\\r}; s=${s//$'\t'/\\t}
    printf '"%s"' "$s"
}

# A curl config naming the URL and the key; read through a pipe, so neither reaches argv.
curl_config() {
    local url=$base_url$1 key=$POOLWARDEN_KEY
    url=${url//\\/\\\\}; url=${url//\"/\\\"}; key=${key//\\/\\\\}; key=${key//\"/\\\"}
    printf 'url = "%s"\nheader = "Authorization: Bearer %s"\n' "$url" "$key"
}

# call METHOD PATH [JSON]: the HTTP status goes to $status, the body to the file $answer.
# Returns 3 when the service cannot be reached.
call() {
    local method=$1 path=$2 body=${3-}
    local args=(--silent --show-error --max-time 60 --request "$method" --output "$answer" --write-out '%{http_code}')
    if [[ -n $body ]]; then args+=(--header 'Content-Type: application/json' --data-binary @-); fi
    if ! status=$(curl "${args[@]}" --config <(curl_config "$path") <<<"$body"); then
        echo "$me: cannot reach PoolWarden at $base_url" >&2
        return 3
    fi
}

# field NAME: the string or number member NAME of the JSON answer (a flat object: a lease, a
# query result's command, a problem). A quoted name followed by a colon can only be a key.
field() {
    tr -d '\n' <"$answer" |
        sed -nE 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*("(([^"\\]|\\.)*)"|(-?[0-9][0-9.eE+-]*)).*/\2\4/p' |
        sed -e 's/\\"/"/g' -e 's/\\\//\//g' -e 's/\\\\/\\/g'
}

# fail WHAT: print the problem the service answered and exit 2 (the EXIT trap then releases).
fail() {
    local code detail sqlstate
    code=$(field code); detail=$(field detail); sqlstate=$(field sqlstate)
    echo "$me: $1 failed: HTTP $status ${code:-?}${sqlstate:+ (SQLSTATE $sqlstate)}: ${detail:-$(head -c 300 "$answer")}" >&2
    exit 2
}

release() {
    local rc=$?
    if [[ -n $token ]]; then
        if call DELETE "/v1/leases/$token"; then
            case $status in
                204) echo "released the lease" ;;
                404 | 410) echo "the lease was already gone ($(field code))" ;;
                *) echo "$me: release answered HTTP $status $(field code); the lease expires after its ttl" >&2 ;;
            esac
        fi
        token=
    fi
    rm -f "$answer"
    exit "$rc"
}
trap release EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# sql STATEMENT [PARAMS_JSON]: runs one statement on the lease; a refused one ends the script.
sql() {
    call POST "/v1/leases/$token/query" "{\"sql\": $(json_string "$1"), \"params\": ${2:-[]}}" || exit 3
    [[ $status == 200 ]] || fail "${1%% *}"
}

call POST "/v1/pools/$pool/leases" '{"ttl_ms": 60000, "wait_ms": 5000}' || exit 3
[[ $status == 201 || $status == 200 ]] || fail "borrow from pool $pool"
token=$(field token)
if [[ -z $token ]]; then echo "$me: the borrow answer holds no token" >&2; exit 2; fi
echo "borrowed a connection from pool $pool (backend pid $(field backend_pid))"

actor=${USER:-$(id -un 2>/dev/null || echo unknown)}
sql "BEGIN"
for amount in "${amounts[@]}"; do
    sql "INSERT INTO $table (actor, amount, note) VALUES (\$1, \$2, \$3)" \
        "[$(json_string "$actor"), $(json_string "$amount"), $(json_string "$me")]"
    echo "inserted amount $amount into $table"
done
sql "COMMIT"
# COMMIT of a transaction that had failed answers ROLLBACK instead of an error.
if [[ $(field command) != COMMIT ]]; then echo "$me: COMMIT answered $(field command): nothing was committed" >&2; exit 2; fi
echo "committed ${#amounts[@]} row(s)"
