#!/usr/bin/env bash
# Pairing and routing in the sandbox: for each round, a simulated car is linked through the hosted
# page, a simulated charger is added, the car is plugged in, and the script measures how long the
# EV system takes to become ACTIVATED; then it sends a command on the vehicle and records which
# route carried it (the charger first, or the vehicle after the charger failed).
#
# Needs curl and jq, and a Coupler started with `coupler serve --sandbox` (its printed demo client):
#   CLIENT_ID=... CLIENT_SECRET=... services/loadgen/scripts/pairing-bench.sh
# Environment: COUPLER (default http://127.0.0.1:8080), ROUNDS (default 12; rounds run in parallel
# batches of BATCH, default 4).
#
# Round kinds cycle through four cases:
#   stop-boreal   a car that cannot stop charging, stopped on the vehicle (the charger carries it)
#   stop-aurora   a fully capable car, stopped on the vehicle (the charger goes first)
#   start-cirrus  a read-only car, started on the vehicle (only the charger can)
#   start-held    a car whose own schedule holds charging: the charger's start has no effect, the
#                 vehicle's maker carries it (the fallback; it waits out the charger route timeout)
set -euo pipefail

COUPLER=${COUPLER:-http://127.0.0.1:8080}
ROUNDS=${ROUNDS:-12}
BATCH=${BATCH:-4}
: "${CLIENT_ID:?set CLIENT_ID and CLIENT_SECRET to the sandbox's demo client}"
: "${CLIENT_SECRET:?set CLIENT_ID and CLIENT_SECRET to the sandbox's demo client}"
for tool in curl jq; do command -v $tool >/dev/null || { echo "pairing-bench needs $tool" >&2; exit 2; }; done

TOKEN=$(curl -sf -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials "$COUPLER/oauth/token" | jq -r .access_token)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

api() { # METHOD PATH [BODY]
  if [ $# -ge 3 ]; then
    curl -sf -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$3" "$COUPLER$2"
  else
    curl -sf -X "$1" -H "Authorization: Bearer $TOKEN" "$COUPLER$2"
  fi
}
now_ms() { date +%s%3N; }

# Polls `api GET PATH | jq -e FILTER` every 100 ms for up to SECONDS; fails the round otherwise.
wait_for() { # SECONDS PATH FILTER
  local deadline=$(( $(now_ms) + $1 * 1000 ))
  until api GET "$2" | jq -e "$3" >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || { echo "timed out waiting for $3 on $2" >&2; return 1; }
    sleep 0.1
  done
}

round() { # N
  local n=$1 kind brand command patch='{}' auto=true
  case $(( n % 4 )) in
    0) kind=stop-boreal;  brand=SIM_BOREAL; command=STOP ;;
    1) kind=stop-aurora;  brand=SIM_AURORA; command=STOP ;;
    2) kind=start-cirrus; brand=SIM_CIRRUS; command=START; auto=false ;;
    3) kind=start-held;   brand=SIM_AURORA; command=START; auto=false; patch='{"scheduleHold":true}' ;;
  esac
  local user="bench-$n-$RANDOM" jar="$OUT/jar-$n"
  local car car_id login password slug link authorize request callback vehicle charger version
  car=$(api POST /sandbox/vehicles "{\"brand\":\"$brand\"}")
  car_id=$(jq -r .id <<<"$car"); login=$(jq -r .login.username <<<"$car"); password=$(jq -r .login.password <<<"$car")
  [ "$patch" = '{}' ] || api PATCH "/sandbox/vehicles/$car_id" "$patch" >/dev/null
  slug=$(tr '[:upper:]' '[:lower:]' <<<"${brand#SIM_}")
  link=$(api POST "/users/$user/link" "{\"vendor\":\"$brand\",\"scopes\":[\"vehicle:read:data\",\"vehicle:read:location\",\"vehicle:control:charging\"],\"redirectUri\":\"https://example.com/linked\"}" | jq -r .linkUrl)
  authorize=$(curl -s -c "$jar" -o /dev/null -w '%{redirect_url}' "$link")
  request=$(curl -s "$authorize" | grep -o 'name="request_id" value="[^"]*"' | cut -d'"' -f4)
  curl -s -o /dev/null -d "request_id=$request&username=$login&password=$password" "$COUPLER/sim/$slug/oauth/login"
  callback=$(curl -s -o /dev/null -w '%{redirect_url}' -d "request_id=$request&decision=approve" "$COUPLER/sim/$slug/oauth/consent")
  curl -s -b "$jar" -o /dev/null "$callback"
  wait_for 30 "/users/$user/vehicles" '.data[0].isReachable != null'
  vehicle=$(api GET "/users/$user/vehicles" | jq -r '.data[0].id')
  version=$([ $(( n % 2 )) -eq 0 ] && echo 1.6 || echo 2.0.1)
  charger=$(api POST "/sandbox/users/$user/chargers" "{\"ocppVersion\":\"$version\",\"autoStart\":$auto}" | jq -r .id)
  wait_for 30 "/chargers/$charger" '.isReachable == true'

  local plugged activated
  plugged=$(now_ms)
  api POST /sandbox/plug "{\"vehicleId\":\"$car_id\",\"chargerId\":\"$charger\"}" >/dev/null
  wait_for 120 "/users/$user/ev-systems" '.data[0].state == "ACTIVATED"'
  activated=$(now_ms)
  local system evidence confidence
  system=$(api GET "/users/$user/ev-systems" | jq -c '.data[0]')
  evidence=$(jq -r '[.match.evidence[].kind] | join("+")' <<<"$system")
  confidence=$(jq -r .match.confidence <<<"$system")
  if [ "$command" = STOP ]; then
    wait_for 60 "/chargers/$charger" '.chargeState.isCharging == true'
  fi

  local action outcome
  action=$(api POST "/vehicles/$vehicle/charging" "{\"action\":\"$command\"}" | jq -r .id)
  wait_for 900 "/actions/$action" '.state != "PENDING"'
  outcome=$(api GET "/actions/$action" | jq -c '{state, attempts: [.attempts[] | "\(.via):\(.outcome)"]}')
  jq -nc --arg kind "$kind" --arg version "$version" --argjson ms $(( activated - plugged )) \
    --arg evidence "$evidence" --arg confidence "$confidence" --argjson outcome "$outcome" \
    '{kind: $kind, ocpp: $version, plugToActivatedMs: $ms, evidence: $evidence, confidence: $confidence} + $outcome' \
    >"$OUT/round-$n.json"
}

n=0
while [ $n -lt "$ROUNDS" ]; do
  pids=()
  for _ in $(seq 1 "$BATCH"); do
    [ $n -lt "$ROUNDS" ] || break
    round $n &
    pids+=($!)
    n=$(( n + 1 ))
  done
  for pid in "${pids[@]}"; do wait "$pid" || echo "a round failed" >&2; done
done

cat "$OUT"/round-*.json | jq -s '
  def pct(p): sort | .[((length - 1) * p | floor)];
  {
    rounds: length,
    plugToActivatedMs: ([.[].plugToActivatedMs] | {min: min, p50: pct(0.5), p90: pct(0.9), max: max}),
    byEvidence: (group_by(.evidence) | map({(.[0].evidence): length}) | add),
    confirmed: ([.[] | select(.state == "CONFIRMED")] | length),
    firstRoute: ([.[] | select(.state == "CONFIRMED" and (.attempts | length) == 1)] | length),
    fallback: ([.[] | select(.state == "CONFIRMED" and (.attempts | length) > 1)] | length),
    byKind: (group_by(.kind) | map({(.[0].kind): [.[] | .attempts | join(" > ")] | unique}) | add)
  }'
