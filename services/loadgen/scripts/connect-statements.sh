#!/usr/bin/env bash
# Counts the PostgreSQL statements that connecting OCPP 1.6 chargers cost: one release `coupler
# serve` on a fresh database, CHARGERS (20) chargers registered, then connected together (each boots,
# reports its connectors and is configured), held for HOLD s (25) and disconnected. The server's
# pg_stat_statements counts every statement of the database over that time; the script prints them,
# most frequent first, and the total per charger. The background work of an idle node (the relay's
# and the webhooks' looks, leases) is counted too: run it with CHARGERS=0 to see that share alone.
#
#   services/loadgen/scripts/connect-statements.sh
#
# Needs pg_stat_statements loaded by the server (shared_preload_libraries, then a restart):
#   ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';   -- then restart PostgreSQL
# Settings (environment): CHARGERS (20), HOLD (25 s), POSTGRES_ADMIN_URL
# (postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
CHARGERS=${CHARGERS:-20} HOLD=${HOLD:-25}
admin=${POSTGRES_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if ! psql "$admin" -Atc "SHOW shared_preload_libraries" | grep -q pg_stat_statements; then
  echo "pg_stat_statements is not loaded by this server: ALTER SYSTEM SET shared_preload_libraries =" >&2
  echo "'pg_stat_statements'; then restart PostgreSQL." >&2
  exit 2
fi
psql "$admin" -qc "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
cd "$root" && cargo build --release -q -p coupler -p coupler-loadgen
target=${CARGO_TARGET_DIR:-$root/target}
coupler="$target/release/coupler" loadgen="$target/release/coupler-loadgen"
work=$(mktemp -d)
db=coupler_statements_$$
node=
cleanup() {
  if [ -n "$node" ]; then kill "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; fi
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$admin" -qc "CREATE DATABASE $db"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export COUPLER_DATABASE_URL=${admin%/*}/$db?sslmode=disable COUPLER_SECRET_KEY=$(head -c 32 /dev/urandom | base64) \
  COUPLER_LOG=warn COUPLER_LISTEN=127.0.0.1:$port COUPLER_RATE_LIMIT_API_PER_CLIENT_BURST=100000 \
  COUPLER_RATE_LIMIT_API_PER_CLIENT_PER_MINUTE=1000000
cd "$work"
"$coupler" migrate
"$coupler" clients create --name statements --json > client.json
export COUPLER_LOADGEN_CLIENT_ID=$(python3 -c "import json;print(json.load(open('client.json'))['clientId'])")
export COUPLER_LOADGEN_CLIENT_SECRET=$(python3 -c "import json;print(json.load(open('client.json'))['clientSecret'])")
"$coupler" serve > node.log 2>&1 &
node=$!
until curl -fs "http://127.0.0.1:$port/health/ready" > /dev/null; do
  kill -0 "$node" 2>/dev/null || { cat node.log >&2; exit 1; }
  sleep 0.3
done
# Registration comes first; the count starts just before the chargers connect.
start_at=$(($(date +%s) + 8))
if [ "$CHARGERS" -gt 0 ]; then
  "$loadgen" --api "http://127.0.0.1:$port" --chargers "$CHARGERS" --id-prefix S --user statements --ramp 1 \
    --duration "$HOLD" --meter-interval 600 --heartbeat-interval 600 --plugged-in --start-at "$start_at" \
    --json > report.json 2> progress.log &
  load=$!
fi
sleep $((start_at - $(date +%s) - 2))
psql "$admin" -qAtc "SELECT pg_stat_statements_reset()" > /dev/null
if [ "$CHARGERS" -gt 0 ]; then wait "$load"; else sleep $((HOLD + 2)); fi
sleep 1
psql "$admin" -F ' | ' -Atc "SELECT s.calls, left(regexp_replace(s.query, '\s+', ' ', 'g'), 110)
  FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '$db' ORDER BY s.calls DESC"
total=$(psql "$admin" -Atc "SELECT COALESCE(sum(s.calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '$db'")
echo "statements in all: $total over $((HOLD + 3)) s, with $CHARGERS chargers connecting, held and disconnecting"
