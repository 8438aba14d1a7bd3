#!/usr/bin/env bash
# Runs hilo-bench against hilo (SQLite, PostgreSQL) and Synapse (SQLite, PostgreSQL) on
# this machine, one system at a time, plus the machine's ceiling; appends one JSON line per
# measurement to $OUT (default target/bench/results.jsonl), with the server's CPU time.
#
#   bench/run.sh                      everything (about an hour)
#   SYSTEMS="hilo-sqlite" bench/run.sh
#   SYSTEMS="ceiling" bench/run.sh
#
# Needs: the Rust toolchain, PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth),
# pgbench, and for Synapse, Python >= 3.10 with access to PyPI (bench/synapse/setup.sh).
# Every server gets a fresh data dir and database. Only loopback addresses are used.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="${OUT:-$TARGET/bench/results.jsonl}"
SYSTEMS="${SYSTEMS:-ceiling hilo-sqlite hilo-postgres synapse-sqlite synapse-postgres}"
PG="postgres://postgres@127.0.0.1:5432"
PORT=18080
mkdir -p "$(dirname "$OUT")"

(cd "$ROOT" && cargo build --release --locked -p hilo -p hilo-bench)
HILO="$TARGET/release/hilo"
BENCH="$TARGET/release/hilo-bench"
PID=""
WORK="$(mktemp -d)"
trap 'stop; rm -rf "$WORK"' EXIT

psql_admin() { psql -q -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$1"; }

stop() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
        PID=""
    fi
}

wait_for() {
    for _ in $(seq 1 120); do
        curl -sf "$1" >/dev/null && return 0
        sleep 0.5
    done
    echo "no answer from $1" >&2
    exit 1
}

# measure SYSTEM ARGS...: runs one scenario and records its JSON line. hilo-bench reads the
# server's CPU time (and PostgreSQL's, for the PostgreSQL systems) over the measured window
# only, so setup such as registration is not charged to the scenario.
measure() {
    local system="$1"
    shift
    local cpu=(--server-pid "$PID")
    case "$system" in *postgres) cpu+=(--postgres-cpu) ;; esac
    local line
    line="$("$BENCH" --server "http://127.0.0.1:$PORT" "${cpu[@]}" "$@")"
    echo "{\"system\":\"$system\",\"result\":$line}" | tee -a "$OUT"
}

start_hilo() {
    local backend="$1"
    local args=(serve --listen "127.0.0.1:$PORT" --smtp-listen 127.0.0.1:0 --mail-dns none --data-dir "$WORK/hilo-$backend")
    if [ "$backend" = postgres ]; then
        psql_admin "DROP DATABASE IF EXISTS hilo_bench WITH (FORCE)"
        psql_admin "CREATE DATABASE hilo_bench"
        args+=(--database "$PG/hilo_bench")
    fi
    "$HILO" "${args[@]}" 2>"$WORK/hilo-$backend.log" &
    PID=$!
    wait_for "http://127.0.0.1:$PORT/healthz"
}

start_synapse() {
    "$ROOT/bench/synapse/setup.sh" >&2
    "$ROOT/bench/synapse/run.sh" "$1" "$PORT" 2>"$WORK/synapse-$1.log" &
    PID=$!
    wait_for "http://127.0.0.1:$PORT/_matrix/client/versions"
}

hilo_scenarios() {
    local system="$1"
    measure "$system" send-seq --messages 2000
    measure "$system" send-conc --senders 32 --messages 300
    measure "$system" e2e --pairs 10 --rate 20 --seconds 10
    measure "$system" e2e --pairs 10 --rate 200 --seconds 10
    measure "$system" fanout --members 50 --rate 20 --seconds 10
    measure "$system" fanout --members 500 --rate 20 --seconds 10
    measure "$system" history --messages 10000 --passes 3
    measure "$system" inbox --conversations 5000 --reads 2000
    measure "$system" search --conversations 200 --others 1800 --messages 1000000 --queries 2000
    measure "$system" idle --pid "$PID" --connections 10000 --accounts 100
    # Last: it leaves thousands of accounts and connections behind.
    measure "$system" users --start 1000 --step 1000 --max 20000 --step-seconds 30
}

# Synapse is about 100 times slower: the same scenarios, sized to finish in minutes.
synapse_scenarios() {
    local system="$1"
    local matrix=(--protocol matrix)
    measure "$system" "${matrix[@]}" send-seq --messages 300
    measure "$system" "${matrix[@]}" send-conc --senders 32 --messages 10
    measure "$system" "${matrix[@]}" e2e --pairs 10 --rate 20 --seconds 10 --drain 120
    measure "$system" "${matrix[@]}" fanout --members 50 --rate 20 --seconds 10 --drain 120
    measure "$system" "${matrix[@]}" history --messages 2000 --passes 3
    measure "$system" "${matrix[@]}" idle --pid "$PID" --connections 1000 --accounts 100
}

for system in $SYSTEMS; do
    echo "== $system" >&2
    case "$system" in
        ceiling)
            start_hilo sqlite
            measure ceiling http-rate --path /healthz --connections 32 --seconds 10
            stop
            "$BENCH" sqlite-inserts --path "$WORK/ceiling.db" --writers 32 --seconds 10 |
                sed 's/^/{"system":"ceiling","result":/; s/$/}/' | tee -a "$OUT"
            psql_admin "DROP DATABASE IF EXISTS hilo_ceiling WITH (FORCE)"
            psql_admin "CREATE DATABASE hilo_ceiling"
            psql -q -h 127.0.0.1 -U postgres -d hilo_ceiling \
                -c "CREATE TABLE rows (id bigserial PRIMARY KEY, body text NOT NULL)"
            echo "INSERT INTO rows (body) VALUES (repeat('x', 100));" >"$WORK/insert.sql"
            tps="$(pgbench -n -h 127.0.0.1 -U postgres -c 32 -j 2 -T 10 -f "$WORK/insert.sql" hilo_ceiling |
                awk '/^tps/ { print $3 }')"
            echo "{\"system\":\"ceiling\",\"result\":{\"scenario\":\"postgres-inserts\",\"tool\":\"pgbench -c 32 -j 2 -T 10\",\"per_second\":$tps}}" | tee -a "$OUT"
            psql_admin "DROP DATABASE hilo_ceiling WITH (FORCE)"
            ;;
        hilo-sqlite | hilo-postgres)
            start_hilo "${system#hilo-}"
            hilo_scenarios "$system"
            stop
            ;;
        synapse-sqlite | synapse-postgres)
            start_synapse "${system#synapse-}"
            synapse_scenarios "$system"
            stop
            ;;
        *)
            echo "unknown system $system" >&2
            exit 2
            ;;
    esac
done
echo "results in $OUT" >&2
