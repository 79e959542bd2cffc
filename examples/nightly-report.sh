#!/usr/bin/env bash
# nightly-report.sh: a cron job that borrows a connection from PoolWarden, reads invoices per
# customer in one read-only snapshot, prints a small report and gives the connection back.
# Needs only bash, curl, sed and grep.
#
# Usage:
#   export POOLWARDEN_URL=http://127.0.0.1:8080 POOLWARDEN_KEY=...   # the key: keep it out of argv
#   examples/nightly-report.sh [POOL [DATE]]
#
#   POOL   pool to read from          (default: $REPORT_POOL, else billing)
#   DATE   the run's date, in the key (default: $REPORT_DATE, else today in UTC)
#   REPORT_TABLE   table with columns customer text, amount numeric (default: invoices, which
#                  ./scripts/run creates)
#   REPORT_JOB     job name, in the key (default: nightly-report)
#
# In a crontab (keys in a file only the job's user can read, not in the crontab):
#   15 2 * * *  . /etc/poolwarden/report.env && /opt/poolwarden/examples/nightly-report.sh billing >>/var/log/nightly-report.log 2>&1
#
# Retries are safe: the borrow carries an idempotency key, JOB-DATE (nightly-report-2025-05-01). A run
# that died (killed, timed out, its machine rebooted) before releasing leaves its lease alive until
# the lease's ttl; a retry the same day gets that same lease back (HTTP 200 instead of 201) instead of
# holding a second connection, rolls back whatever the dead run left open, and releases it at the
# end. The release runs from `trap ... EXIT`, so it also happens when a statement fails.
#
# Exit status: 0 report printed; 1 usage; 2 the service or PostgreSQL said no (the problem's code and
# detail on stderr); 3 the service cannot be reached.
set -euo pipefail

me=${0##*/}
base_url=${POOLWARDEN_URL:-http://127.0.0.1:8080}
base_url=${base_url%/}
pool=${1:-${REPORT_POOL:-billing}}
day=${2:-${REPORT_DATE:-$(date -u +%F)}}
table=${REPORT_TABLE:-invoices}
job=${REPORT_JOB:-nightly-report}
key="$job-$day"

[[ ${1-} == -h || ${1-} == --help ]] && { sed -n '6,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 1; }
if [[ -z ${POOLWARDEN_KEY-} ]]; then echo "$me: set POOLWARDEN_KEY to your caller key" >&2; exit 1; fi
if [[ ! $table =~ ^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$ ]]; then
    echo "$me: $table is not a plain table name" >&2; exit 1
fi
if [[ ! $pool =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$ ]]; then echo "$me: $pool is not a pool name" >&2; exit 1; fi
if [[ ! $key =~ ^[A-Za-z0-9_.:-]{1,128}$ ]]; then echo "$me: $key is not a usable idempotency key" >&2; exit 1; fi

answer=$(mktemp "${TMPDIR:-/tmp}/poolwarden-answer.XXXXXX")   # mode 0600: a borrow answer holds the token
token=

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
call() {
    local method=$1 path=$2 body=${3-}
    local args=(--silent --show-error --max-time 120 --request "$method" --output "$answer" --write-out '%{http_code}')
    if [[ -n $body ]]; then args+=(--header 'Content-Type: application/json' --data-binary @-); fi
    if ! status=$(curl "${args[@]}" --config <(curl_config "$path") <<<"$body"); then
        echo "$me: cannot reach PoolWarden at $base_url" >&2
        return 3
    fi
}

# field NAME: the string or number member NAME of a flat JSON answer.
field() {
    tr -d '\n' <"$answer" |
        sed -nE 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*("(([^"\\]|\\.)*)"|(-?[0-9][0-9.eE+-]*)).*/\2\4/p' |
        sed -e 's/\\"/"/g' -e 's/\\\//\//g' -e 's/\\\\/\\/g'
}

# text_rows: the rows of a query result whose one column is text, one line each (the queries
# below let PostgreSQL format every line, so no JSON parser is needed here).
text_rows() {
    tr -d '\n' <"$answer" |
        sed -E 's/.*"rows"[[:space:]]*:[[:space:]]*\[//' |
        { grep -oE '\[[[:space:]]*"([^"\\]|\\.)*"[[:space:]]*\]' || true; } |
        sed -E -e 's/^\[[[:space:]]*"//' -e 's/"[[:space:]]*\]$//' \
            -e 's/\\"/"/g' -e 's/\\\//\//g' -e 's/\\t/\t/g' -e 's/\\\\/\\/g'
}

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

sql() {
    call POST "/v1/leases/$token/query" "{\"sql\": $(json_string "$1")}" || exit 3
    [[ $status == 200 ]] || fail "${1%% *}"
}

# A ten-minute lease; a borrow waits up to 30 s for a free connection.
call POST "/v1/pools/$pool/leases" "{\"key\": $(json_string "$key"), \"ttl_ms\": 600000, \"wait_ms\": 30000}" || exit 3
case $status in
    201) token=$(field token); echo "borrowed a connection from pool $pool (key $key)" ;;
    200) token=$(field token); echo "reusing the lease of an earlier, unfinished run (key $key)" ;;
    *) fail "borrow from pool $pool" ;;
esac
if [[ -z $token ]]; then echo "$me: the borrow answer holds no token" >&2; exit 2; fi

# An earlier run may have left a transaction open, or failed, on this lease: start clean.
sql "ROLLBACK"
# One snapshot for both queries, and no way to change data by mistake.
sql "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
sql "SELECT format('%-24s %8s %14s', left(customer, 24), count(*), sum(amount)) FROM $table GROUP BY customer ORDER BY sum(amount) DESC NULLS LAST, customer"
lines=$(text_rows)
sql "SELECT format('%s customer(s), %s invoice(s), total %s', count(DISTINCT customer), count(*), coalesce(sum(amount), 0)) FROM $table"
summary=$(text_rows)
sql "COMMIT"

echo
echo "Invoices per customer, $day (pool $pool, table $table)"
printf '%-24s %8s %14s\n' customer invoices total
printf '%-24s %8s %14s\n' "------------------------" "--------" "--------------"
[[ -n $lines ]] && printf '%s\n' "$lines"
echo "$summary"
echo
