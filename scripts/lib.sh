# Shared by scripts/ and bench/: install what a fresh Debian machine lacks, and run throwaway
# PostgreSQL clusters (as the postgres OS user when we are root, since PostgreSQL refuses root).

# How many tests `swift test` runs at once (POOLWARDEN_TEST_WIDTH, default 8; 0 for no limit).
# Every suite starts its own service inside the test process, beside the test bodies and their
# clients, all on Swift's one global executor (2 threads here). With all 69 suites at once, beside
# three busy loops, that executor started a job up to 2 s late (p99 0.8 s): the tests starved the
# services they measured. With 8 at once it was at most 0.2 s late (p99 17 ms), and the whole
# suite took no longer (RELIABILITY.md, issue 12).
#
# Swift Testing also records a backtrace of every error thrown in the test process
# (SWT_SWIFT_ERROR_BACKTRACING_ENABLED), which makes each throw cost ~1 ms. Decoding JSON throws
# and catches as it tries each type of a value: an in-process service decoding a large request
# body then held its event loop for 3.6 s beside busy loops (gdb: swift_willThrow → backtrace),
# and a client's hang-up on that loop went unnoticed until its single shot had run. The tests
# turn it off (it is not the product's cost: `poolwarden serve` has no such hook).
export_test_environment() {
    export SWT_SWIFT_ERROR_BACKTRACING_ENABLED=0
}

test_width_args() {
    local width=${POOLWARDEN_TEST_WIDTH:-8}
    case $width in ''|*[!0-9]*) echo "POOLWARDEN_TEST_WIDTH must be a number" >&2; return 2 ;; esac
    [ "$width" -eq 0 ] || echo "--experimental-maximum-parallelization-width $width"
}

# Installs Debian packages that are missing; quiet and idempotent.
ensure_packages() {
    local missing=()
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# What building and testing PoolWarden needs.
ensure_build_packages() {
    # openssl: the TLS tests make their own CA and certificates with it.
    ensure_packages pkg-config libpq-dev postgresql postgresql-client openssl
}

# build_release: builds .build/release/poolwarden in the package at the current directory, with one
# line on the terminal and the compiler's output in .build/run-build.log (its end shown when the
# build fails); skipped while no source is newer than a stamp taken when the last successful build
# started. A stamp, not the binary's time: SwiftPM leaves the binary untouched when a change (a
# comment) compiles to the same program, which would rebuild on every run. -L: Sources/ holds
# symbolic links to openapi/.
build_release() {
    local stamp=.build/run-release.stamp log=$PWD/.build/run-build.log
    local sources=(Sources Package.swift)
    [ -e Package.resolved ] && sources+=(Package.resolved)
    if [ -x .build/release/poolwarden ] && [ -e "$stamp" ] &&
        [ -z "$(find -L "${sources[@]}" -newer "$stamp" -print -quit)" ]; then
        echo "==> poolwarden: reusing the release build (.build/release/poolwarden; nothing changed since)"
        return 0
    fi
    mkdir -p .build
    local first=""
    [ -x .build/release/poolwarden ] || first=", 5 to 15 min the first time"
    printf '==> building poolwarden (release%s; log: %s) ...' "$first" "$log"
    local started=$SECONDS
    # Resolved before the stamp: the Package.resolved that a fresh clone's first build writes must
    # not count as a change at the next run.
    if swift package resolve >"$log" 2>&1 && touch "$stamp.next" &&
        swift build -c release --product poolwarden >>"$log" 2>&1; then
        mv "$stamp.next" "$stamp"
        echo " done in $((SECONDS - started)) s"
        return 0
    fi
    echo " failed"
    echo "==> the end of $log:"
    tail -n 30 "$log"
    return 1
}

# The newest PostgreSQL server binaries directory.
pg_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    echo "PostgreSQL server binaries not found; install them with: sudo apt-get install -y postgresql" >&2
    return 1
}

# Runs a command as the postgres OS user when we are root.
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A free TCP port on loopback.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_throwaway_pg DIR PORT [EXTRA_SERVER_OPTIONS]: initdb into DIR and start on 127.0.0.1:PORT with
# trust auth and durability off.
start_throwaway_pg() {
    local dir=$1 port=$2 extra=${3:-}
    local bin
    bin=$(pg_bindir) || return 1
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
    chmod 700 "$dir"
    as_postgres "$bin/initdb" -D "$dir/data" --auth=trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off $extra" start >/dev/null
}

# cpu_ticks PID...: CPU time (clock ticks, user + system) of the given processes so far; a process
# that exited counts nothing, so only long-lived ones are measured this way.
cpu_ticks() {
    local p t=0
    for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$(( t + $(awk '{ print $14 + $15 }' "/proc/$p/stat") )); done
    echo "$t"
}

# per_event_us BEFORE AFTER EVENTS: microseconds of CPU per event between two cpu_ticks readings.
per_event_us() { echo $(( ($2 - $1) * (1000000 / $(getconf CLK_TCK)) / ($3 > 0 ? $3 : 1) )); }

# Every process of the PostgreSQL servers run as the postgres user (throwaway ones included).
pg_pids() { pgrep -u postgres -x postgres | tr '\n' ' '; }

# stop_throwaway_pg DIR: stop the cluster and remove its directory.
stop_throwaway_pg() {
    local dir=$1
    local bin
    bin=$(pg_bindir) || return 0
    [ -d "$dir/data" ] && as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
    rm -rf "$dir"
}
