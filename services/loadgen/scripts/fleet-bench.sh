#!/usr/bin/env bash
# A fleet of OCPP 1.6 chargers (default 100,000) held by several Coupler nodes on one PostgreSQL
# database, on this machine: NODES release `coupler serve` processes (each its own COUPLER_NODE_ID
# and port), one coupler-loadgen per node (one process holds at most ~19,900 sockets here), every
# charger sending MeterValues every METER s and a Heartbeat every HEARTBEAT s. After the ramp and a
# settling time it reads the nodes' and PostgreSQL's CPU and the nodes' memory over a steady window,
# while the first load generator sends COMMANDS START commands to the *next* node's REST API for
# chargers held by the first node, timed to the RemoteStartTransaction at the charger's socket.
# Bounded: everything stops after the window; the database is dropped.
#
#   services/loadgen/scripts/fleet-bench.sh
#   CHARGERS=6000 NODES=3 RAMP=60 services/loadgen/scripts/fleet-bench.sh     # a quick try
#
# Settings (environment): CHARGERS (100000), NODES (6), RAMP (900 s), SETTLE (60 s), STEADY (150 s),
# METER (60), HEARTBEAT (300), COMMANDS (300), COMMAND_SPACING (0.5 s), POOL (6 connections per node),
# REGISTER_WAIT (s allowed for registering before the common start; default 60 + CHARGERS / 250),
# POSTGRES_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres), KEEP (a directory to copy the
# reports, progress lines and node logs to).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
CHARGERS=${CHARGERS:-100000} NODES=${NODES:-6} RAMP=${RAMP:-900} SETTLE=${SETTLE:-60} STEADY=${STEADY:-150}
METER=${METER:-60} HEARTBEAT=${HEARTBEAT:-300} COMMANDS=${COMMANDS:-300} COMMAND_SPACING=${COMMAND_SPACING:-0.5}
POOL=${POOL:-6} REGISTER_WAIT=${REGISTER_WAIT:-$((60 + CHARGERS / 250))}
admin=${POSTGRES_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if [ "$NODES" -lt 2 ]; then echo "NODES must be at least 2 (commands enter at another node)" >&2; exit 2; fi
per_node=$(((CHARGERS + NODES - 1) / NODES))
if [ "$per_node" -gt $(($(ulimit -n) - 100)) ]; then
  echo "$per_node chargers per node exceed the open-files limit ($(ulimit -n)); use more NODES" >&2
  exit 2
fi
cd "$root" && cargo build --release -q -p coupler -p coupler-loadgen
target=${CARGO_TARGET_DIR:-$root/target}
coupler="$target/release/coupler" loadgen="$target/release/coupler-loadgen"
work=$(mktemp -d)
db=coupler_fleet_$$
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$work"/*.json "$work"/*.log "$KEEP"/ 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
if [ "$(psql "$admin" -Atc "SHOW autovacuum")" != on ]; then
  echo "PostgreSQL's autovacuum is off: the event queue slows down steadily without it and the figures" >&2
  echo "would measure that, not Coupler. Turn it on (ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf())." >&2
  exit 2
fi
psql "$admin" -qc "CREATE DATABASE $db"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# What every node shares: the database, the key; the API rate limits are raised for the load
# generators' registrations (one client registers the whole fleet).
# Plain TCP to the local database: a TLS handshake for each pooled connection is CPU this
# machine's two cores cannot spare during the ramp.
export COUPLER_DATABASE_URL=${admin%/*}/$db?sslmode=disable COUPLER_SECRET_KEY=$(head -c 32 /dev/urandom | base64) COUPLER_LOG=warn \
  COUPLER_DATABASE_POOL_SIZE=$POOL COUPLER_RATE_LIMIT_API_PER_CLIENT_BURST=100000 \
  COUPLER_RATE_LIMIT_API_PER_CLIENT_PER_MINUTE=1000000
cd "$work"
"$coupler" migrate
"$coupler" clients create --name fleet --json > client.json
export COUPLER_LOADGEN_CLIENT_ID=$(python3 -c "import json;print(json.load(open('client.json'))['clientId'])")
export COUPLER_LOADGEN_CLIENT_SECRET=$(python3 -c "import json;print(json.load(open('client.json'))['clientSecret'])")

ports=() nodes=()
for i in $(seq 0 $((NODES - 1))); do
  port=$(free_port)
  COUPLER_NODE_ID=fleet-$i COUPLER_LISTEN=127.0.0.1:$port "$coupler" serve > "node-$i.log" 2>&1 &
  nodes+=($!) pids+=($!) ports+=("$port")
done
for i in "${!ports[@]}"; do
  until curl -fs "http://127.0.0.1:${ports[$i]}/health/ready" > /dev/null; do
    kill -0 "${nodes[$i]}" 2>/dev/null || { echo "node $i stopped:" >&2; cat "node-$i.log" >&2; exit 1; }
    sleep 0.5
  done
done
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
ticks() { cat "/proc/$1/stat" 2>/dev/null | awk '{print $14 + $15} END {if (NR == 0) print 0}' || echo 0; }
# Every PostgreSQL process (the server may serve other databases at the same time).
pg_ticks() { for p in $(pgrep -u postgres postgres); do cat "/proc/$p/stat" 2>/dev/null || true; done | awk '{t += $14 + $15} END {print t + 0}'; }
rss0=() ; for pid in "${nodes[@]}"; do rss0+=("$(rss "$pid")"); done

start_at=$(($(date +%s) + REGISTER_WAIT))
duration=$((RAMP + SETTLE + STEADY + 30))
loads=()
for i in "${!ports[@]}"; do
  n=$(( i < NODES - 1 ? per_node : CHARGERS - per_node * (NODES - 1) ))
  extra=()
  if [ "$i" = 0 ]; then
    extra=(--command-latency --full-duration --commands "$COMMANDS" --command-spacing "$COMMAND_SPACING"
      --command-delay "$SETTLE" --command-api "http://127.0.0.1:${ports[1]}")
  fi
  "$loadgen" --api "http://127.0.0.1:${ports[$i]}" --chargers "$n" --id-prefix "F$i" --user "fleet-$i" \
    --ramp "$RAMP" --duration "$duration" --meter-interval "$METER" --heartbeat-interval "$HEARTBEAT" \
    --plugged-in --start-at "$start_at" --concurrency 16 "${extra[@]}" --json > "report-$i.json" 2> "progress-$i.log" &
  loads+=($!) pids+=($!)
done
echo "$NODES nodes on ports ${ports[*]}; $CHARGERS chargers connect from $(date -u -d "@$start_at" +%T) UTC over $RAMP s"
sleep $((start_at - $(date +%s) + RAMP + SETTLE))
for i in "${!nodes[@]}"; do
  echo "node $i: open files $(ls "/proc/${nodes[$i]}/fd" | wc -l) at the start of the steady window"
done
t0=0; for pid in "${nodes[@]}"; do t0=$((t0 + $(ticks "$pid"))); done
l0=0; for pid in "${loads[@]}"; do l0=$((l0 + $(ticks "$pid"))); done
p0=$(pg_ticks); a0=$(date +%s.%N)
sleep "$STEADY"
t1=0; for pid in "${nodes[@]}"; do t1=$((t1 + $(ticks "$pid"))); done
l1=0; for pid in "${loads[@]}"; do l1=$((l1 + $(ticks "$pid"))); done
p1=$(pg_ticks); a1=$(date +%s.%N)
rss1=() ; for pid in "${nodes[@]}"; do rss1+=("$(rss "$pid")"); done
for pid in "${loads[@]}"; do wait "$pid" || true; done
cat > figures.json <<EOF
{"nodes": $NODES, "ramp": $RAMP, "settle": $SETTLE, "steady": $STEADY, "window": [$a0, $a1],
 "nodeTicks": [$t0, $t1], "loadgenTicks": [$l0, $l1], "postgresTicks": [$p0, $p1],
 "rssBefore": [$(IFS=,; echo "${rss0[*]}")], "rssSteady": [$(IFS=,; echo "${rss1[*]}")]}
EOF
python3 - "$NODES" <<'PY'
import json, re, statistics, sys
nodes = int(sys.argv[1])
f = json.load(open("figures.json"))
reports = [json.load(open(f"report-{i}.json")) for i in range(nodes)]
seconds = f["window"][1] - f["window"][0]
# The steady window in the load generators' own time (seconds since the common start).
w0, w1 = f["ramp"] + f["settle"], f["ramp"] + f["settle"] + f["steady"]
line = re.compile(r"^\[\s*(\d+)s\].*answered ([\d.]+)/s.*\| p50 ([\d.]+) ms  p99 ([\d.]+) ms")
answered, p50s, p99s = 0.0, [], []
for i in range(nodes):
    rates = []
    for text in open(f"progress-{i}.log"):
        m = line.match(text)
        if m and w0 < int(m[1]) <= w1:
            rates.append(float(m[2])); p50s.append(float(m[3])); p99s.append(float(m[4]))
    answered += statistics.mean(rates) if rates else 0.0
def total(part, field):
    return sum(r[part][field] for r in reports)
held = [r["connections"]["heldAtEnd"] for r in reports]
print(f"chargers held at the end of the load: {sum(held)} of {sum(r['chargersRequested'] for r in reports)} ({', '.join(map(str, held))} per node)")
print(f"registration: {total('registration', 'registered')} registered, {total('registration', 'failed')} failed, slowest {max(r['registration']['seconds'] for r in reports):.0f} s")
print(f"connections: established {total('connections', 'established')}, failed attempts {total('connections', 'failed')}, lost {total('connections', 'disconnects')}")
print(f"calls: sent {total('calls', 'sent')}, answered {total('calls', 'answered')}, CALLERRORs {total('calls', 'callErrors')}, "
      f"timeouts {total('calls', 'timeouts')}, invalid {total('calls', 'invalidResponses')}, lost on disconnect {total('calls', 'lostOnDisconnect')}, skipped {total('calls', 'skipped')}")
for i, r in enumerate(reports):
    l = r["latencyMs"] or {}
    print(f"  node {i} whole run: p50 {l.get('p50')} ms, p99 {l.get('p99')} ms, max {l.get('max')} ms")
if p50s:
    print(f"steady window ({f['steady']} s after {f['settle']} s of settling): {answered:.0f} calls/s answered; "
          f"per 10 s and node: p50 {min(p50s):.2f}-{max(p50s):.2f} ms (median {statistics.median(p50s):.2f}), "
          f"p99 {min(p99s):.2f}-{max(p99s):.2f} ms (median {statistics.median(p99s):.2f})")
cores = (f["nodeTicks"][1] - f["nodeTicks"][0]) / 100 / seconds
pg = (f["postgresTicks"][1] - f["postgresTicks"][0]) / 100 / seconds
lg = (f["loadgenTicks"][1] - f["loadgenTicks"][0]) / 100 / seconds
if answered:
    print(f"CPU over the steady window: Coupler nodes {cores:.2f} cores ({cores / answered * 1e6:.0f} µs per call), "
          f"PostgreSQL {pg:.2f} cores ({pg / answered * 1e6:.0f} µs per call), load generators {lg:.2f} cores")
for i in range(nodes):
    before, steady = f["rssBefore"][i], f["rssSteady"][i]
    print(f"  node {i} RSS {before / 1024:.0f} MiB before, {steady / 1024:.0f} MiB with {held[i]} chargers "
          f"({(steady - before) / max(held[i], 1):.1f} KiB per charger)")
total_rss = sum(f["rssSteady"]) - sum(f["rssBefore"])
print(f"memory per charger, all nodes: {total_rss / max(sum(held), 1):.1f} KiB ({sum(f['rssSteady']) / 1024:.0f} MiB in all)")
c = reports[0]["commandLatency"]
if c:
    l = c["latencyMs"] or {}
    print(f"REST START at node 1 -> RemoteStartTransaction at a charger of node 0: {c['arrived']} of {c['sent']} arrived, "
          f"REST errors {c['restErrors']}, timeouts {c['timeouts']}; ms p50 {l.get('p50')} p90 {l.get('p90')} p99 {l.get('p99')} max {l.get('max')}")
    for e in c["errors"]:
        print("  ", e)
for r in reports:
    for e in r["connections"]["errors"] + r["calls"]["errors"]:
        print("  error:", e)
PY
