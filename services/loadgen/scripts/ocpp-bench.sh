#!/usr/bin/env bash
# Runs N simulated OCPP 1.6 chargers (default 10,000; EXTRA="--ocpp-version 2.0.1" for 2.0.1 ones) against a release Coupler on this machine and
# prints the server's memory and CPU next to the load generator's report. Bounded: the load phase
# lasts DURATION seconds, then everything stops.
#
#   services/loadgen/scripts/ocpp-bench.sh                       # SQLite in a temporary directory
#   DATABASE=postgres services/loadgen/scripts/ocpp-bench.sh     # a fresh PostgreSQL database
#
# Settings (environment): CHARGERS (10000), RAMP (60), DURATION (180), METER (10), HEARTBEAT (60),
# DATABASE (sqlite | postgres), POSTGRES_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres),
# REGISTER_WAIT (s allowed for registering the chargers before they connect; default 30 + CHARGERS / 200),
# EXTRA (more coupler-loadgen options, e.g. "--plugged-in --command-latency --commands 200").
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
CHARGERS=${CHARGERS:-10000} RAMP=${RAMP:-60} DURATION=${DURATION:-180} METER=${METER:-10} HEARTBEAT=${HEARTBEAT:-60}
DATABASE=${DATABASE:-sqlite} EXTRA=${EXTRA:-} REGISTER_WAIT=${REGISTER_WAIT:-$((30 + CHARGERS / 200))}
work=$(mktemp -d)
cd "$root" && cargo build --release -q -p coupler -p coupler-loadgen
target=${CARGO_TARGET_DIR:-$root/target}
coupler="$target/release/coupler" loadgen="$target/release/coupler-loadgen"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The API rate limits are raised for the load generator's registrations (one client registers every
# charger).
export COUPLER_LISTEN=127.0.0.1:$port COUPLER_LOG=warn COUPLER_RATE_LIMIT_API_PER_CLIENT_BURST=100000 \
  COUPLER_RATE_LIMIT_API_PER_CLIENT_PER_MINUTE=1000000
if [ "$DATABASE" = postgres ]; then
  admin=${POSTGRES_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  db=coupler_bench_$$
  if [ "$(psql "$admin" -Atc "SHOW autovacuum")" != on ]; then
    echo "PostgreSQL's autovacuum is off: the event queue slows down steadily without it and the figures" >&2
    echo "would measure that, not Coupler. Turn it on (ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf())." >&2
    exit 2
  fi
  psql "$admin" -qc "CREATE DATABASE $db"
  export COUPLER_DATABASE_URL=${admin%/*}/$db COUPLER_SECRET_KEY=$(head -c 32 /dev/urandom | base64)
else
  export COUPLER_DATABASE_URL=sqlite://$work/coupler.db
fi
cd "$work"
"$coupler" clients create --name bench --json > client.json
export COUPLER_LOADGEN_CLIENT_ID=$(python3 -c "import json;print(json.load(open('client.json'))['clientId'])")
export COUPLER_LOADGEN_CLIENT_SECRET=$(python3 -c "import json;print(json.load(open('client.json'))['clientSecret'])")
"$coupler" serve > serve.log 2>&1 &
server=$!
cleanup() {
  kill $server 2>/dev/null || true
  wait $server 2>/dev/null || true
  [ "$DATABASE" = postgres ] && psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT
sleep 2
rss() { awk '/VmRSS/ {print $2}' /proc/$server/status; }
ticks() { awk '{print $14 + $15}' /proc/$server/stat; }
echo "server RSS before any charger: $(rss) KiB"
# The chargers are registered first; they all connect from `start_at`, spread over the ramp.
start_at=$(($(date +%s) + REGISTER_WAIT))
# shellcheck disable=SC2086
"$loadgen" --api "http://127.0.0.1:$port" --chargers "$CHARGERS" --ramp "$RAMP" --duration "$DURATION" \
  --meter-interval "$METER" --heartbeat-interval "$HEARTBEAT" --start-at "$start_at" $EXTRA --json > report.json 2> progress.log &
load=$!
# Measure a steady minute after the ramp (and the boot storm) is over.
sleep $((start_at - $(date +%s) + RAMP + 30))
t0=$(ticks); r0=$(rss); a0=$(date +%s.%N)
sleep 60
t1=$(ticks); r1=$(rss); a1=$(date +%s.%N)
echo "server RSS with chargers connected: $r0 KiB, a minute later $r1 KiB, open files $(ls /proc/$server/fd | wc -l)"
python3 - "$t0" "$t1" "$a0" "$a1" <<'PY'
import sys
t0, t1, a0, a1 = (float(x) for x in sys.argv[1:])
print(f"server CPU over the steady minute: {(t1 - t0) / 100 / (a1 - a0):.3f} cores")
PY
grep -E '^\[' progress.log | tail -8
wait $load
python3 - <<'PY'
import json
r = json.load(open("report.json"))
c, l, k = r["connections"], r["latencyMs"], r["calls"]
print(f"connections established {c['established']}, held at end {c['heldAtEnd']}, failed {c['failed']}, lost {c['disconnects']}")
print(f"calls {k['sent']} ({k['sentPerSecond']}/s), answered {k['answered']}, CALLERRORs {k['callErrors']}, timeouts {k['timeouts']}, invalid {k['invalidResponses']}, skipped {k['skipped']}")
print(f"latency ms p50 {l['p50']} p90 {l['p90']} p99 {l['p99']} max {l['max']}")
if r.get("commandLatency"):
    cl = r["commandLatency"]
    print(f"REST START -> RemoteStartTransaction: {cl['arrived']} of {cl['sent']} arrived, ms {cl['latencyMs']}")
PY
