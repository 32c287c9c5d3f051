#!/usr/bin/env bash
# The national day and the hottest call, in one run on one store:
#   1. start-up: seed the full national dataset (1,400 hospitals, ~106,000 beds, 300,000
#      referrals) into a fresh store, stop, start again on it: seconds to serving (/healthz)
#   2. the national day: bench/LoadTest --scale $SCALE (fails the script on any error or
#      invariant violation); for its no-shows the tool has bench/nationalday/gateway.sh restart the
#      gateway on its store with its clock 3 days ahead, and the steps below run on that one
#   3. resident memory (VmRSS) of the gateway with the national dataset loaded, after the day
#   4. h2load: GetQueueStatus of the day's hottest code still queued, at saturation, and at a fixed $RATE/s
#      with p99 from h2load's request log; /healthz on the same server and settings as baseline
#   5. ReportBeds profile updates/s: from the day's reporting hour (printed by the load tool), then
#      at saturation: every hospital reports all its profiles $ROUNDS times more on the same gateway
# Store: SQLite in a temporary directory; PG=1 uses a fresh database on $PG_URL instead.
# Needs: dotnet, h2load (nghttp2-client), psql for PG=1.
# Settings: SCALE (1), SEED_REFERRALS (300000), DURATION (10 s), CLIENTS (50), STREAMS (10), RATE (20000), ROUNDS (20),
#   ROUND_CONCURRENCY (128: hospitals reporting at once in the ReportBeds rounds),
#   DATA: a data directory a previous run seeded (SQLite): skips the first start (seeding 300,000
#   referrals takes minutes); LOAD_SEED: the day's seed (new request ids and patients each run).
#   REDIS: host:port of a Redis for the lookup cache (else the in-process cache).
#   PG_DB (with PG=1): a database to keep and reuse, created if missing; give it a DATA directory
#   too (the demo keys live there): the first run seeds both, later runs skip the seeding.
set -euo pipefail
cd "$(dirname "$0")/../.."

SCALE=${SCALE:-1}
SEED_REFERRALS=${SEED_REFERRALS:-300000}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-50}
STREAMS=${STREAMS:-10}
RATE=${RATE:-20000}
ROUNDS=${ROUNDS:-20}
ROUND_CONCURRENCY=${ROUND_CONCURRENCY:-128}
# Below Linux's ephemeral range (32768-60999): polling a port in it before the gateway listens can
# connect the poll to itself, and the TIME-WAIT left holds the port against the gateway's bind.
GRPC_PORT=${GRPC_PORT:-30561}
HTTP_PORT=${HTTP_PORT:-30562}
PG=${PG:-0}
PG_URL=${PG_URL:-127.0.0.1:55433}
DATA=${DATA:-}
LOAD_SEED=${LOAD_SEED:-$(( $(date +%s) % 100000 ))}

work=$(mktemp -d /tmp/bedbureau-nationalday.XXXXXX)
stop_gateway() {
  [ -f "$work/gateway.pid" ] || return 0
  local pid; pid=$(cat "$work/gateway.pid")
  kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$work/gateway.pid"
}
cleanup() {
  stop_gateway
  rm -rf "$work"
}
trap cleanup EXIT

echo "== build"
dotnet build src/Gateway -c Release -v quiet -nologo >/dev/null
dotnet build bench/LoadTest -c Release -v quiet -nologo >/dev/null

args=(
  "--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:$GRPC_PORT"
  "--Kestrel:Endpoints:Http:Url=http://127.0.0.1:$HTTP_PORT"
  "--Storage:DataDirectory=${DATA:-$work/data}"
  "--Sample:Referrals=$SEED_REFERRALS"
  "--Sample:HospitalKeys=1400"
  "--Sample:PolyclinicKeys=1000"
  # Patients are many addresses in life; here they are one: no per-address limit.
  "--Patients:LookupsPerSecond=1000000000" "--Patients:LookupBurst=1000000000"
  "--Logging:LogLevel:Default=Warning"
)
store="SQLite"
if [ "$PG" = 1 ]; then
  host=${PG_URL%:*}; port=${PG_URL#*:}
  if [ -n "${PG_DB:-}" ]; then
    db=$PG_DB
    psql -h "$host" -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
      psql -h "$host" -p "$port" -U postgres -qc "CREATE DATABASE $db" >/dev/null
  else
    db="bedbureau_nationalday_$$"
    psql -h "$host" -p "$port" -U postgres -qc "CREATE DATABASE $db" >/dev/null
    trap 'cleanup; psql -h "$host" -p "$port" -U postgres -qc "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
  fi
  args+=("--ConnectionStrings:Postgres=Host=$host;Port=$port;Username=postgres;Database=$db" "--Security:PersonalDataSecret=nationalday-bench-secret-0123456789")
  store="PostgreSQL"
fi
if [ -n "${REDIS:-}" ]; then
  args+=("--ConnectionStrings:Redis=$REDIS")
  store="$store + Redis"
fi

printf '%s\n' "${args[@]}" >"$work/gateway.args"
echo "$HTTP_PORT" >"$work/http.port"

echo "== start-up on $store"
if [ -z "$DATA" ] || [ ! -f "$DATA/demo-keys.json" ]; then
  bench/nationalday/gateway.sh "$work"; started=$(cat "$work/started")
  printf '  first start, seeding %s referrals: %.1f s\n' "$SEED_REFERRALS" "$started"
  stop_gateway
fi
bench/nationalday/gateway.sh "$work"; started=$(cat "$work/started")
gateway_pid=$(cat "$work/gateway.pid")
printf '  start-up to serving on the national dataset: %.1f s\n' "$started"

echo "== national day (scale $SCALE, seed $LOAD_SEED)"
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$gateway_pid/status")
set +e
dotnet bench/LoadTest/bin/Release/net10.0/BedBureau.LoadTest.dll --server "http://127.0.0.1:$GRPC_PORT" \
  --keys "${DATA:-$work/data}/demo-keys.json" --scale "$SCALE" --seed "$LOAD_SEED" --lookup-body "$work/lookup.bin" \
  --gateway-metrics "http://127.0.0.1:$HTTP_PORT/metrics" --restart-command "bench/nationalday/gateway.sh $work --Drill:ClockAheadDays=\$CLOCK_AHEAD_DAYS" |
  tee "$work/day.txt"
day_status=${PIPESTATUS[0]}
set -e
# The no-shows phase restarted it with its clock 3 days ahead: the rest runs on that gateway.
gateway_pid=$(cat "$work/gateway.pid")
rss_after=$(awk '/VmRSS/ {print $2}' "/proc/$gateway_pid/status")
rss_peak=$( (awk '/VmHWM/ {print $2}' "/proc/$gateway_pid/status"; cat "$work/rss-peaks" 2>/dev/null) | sort -n | tail -1)
printf '== resident memory: %d MB after start-up, %d MB after the day, peak %d MB (either gateway)\n' $((rss_before / 1024)) $((rss_after / 1024)) $((rss_peak / 1024))
# What holds it: the GC heap at its last collection (per generation) and the memory the GC has committed.
curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" | awk '
  /^dotnet_gc_last_collection_heap_size_bytes/ { split($1, a, "\""); heap[a[2]] = $2; total += $2 }
  /^dotnet_gc_last_collection_memory_committed_size_bytes/ { committed = $2 }
  END { printf "   GC heap at the last collection %d MB (gen2 %d, LOH %d), GC committed %d MB\n", total / 1048576, heap["gen2"] / 1048576, heap["loh"] / 1048576, committed / 1048576 }'

echo "== h2load GetQueueStatus (the day's hottest code) vs /healthz, -c $CLIENTS -m $STREAMS -D $DURATION"
grpc=(-d "$work/lookup.bin" -H 'content-type: application/grpc' -H 'te: trailers')
lookup="http://127.0.0.1:$GRPC_PORT/bedbureau.v1.PatientService/GetQueueStatus"
health="http://127.0.0.1:$GRPC_PORT/healthz"
nghttp -v "${grpc[@]}" "$lookup" 2>&1 | grep -q 'grpc-status: 0' || { echo "GetQueueStatus did not answer grpc-status 0"; exit 1; }
run() { # label, h2load args... ; prints req/s and p50/p99 (ms) from the request log
  local label=$1; shift
  rm -f "$work/h2load.log" # h2load appends to its log
  local out; out=$(h2load -t 1 --log-file="$work/h2load.log" "$@")
  local rps; rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
  local failed; failed=$(sed -n 's/^requests: .* \([0-9]*\) failed, \([0-9]*\) errored.*/\1+\2/p' <<<"$out")
  local pct; pct=$(awk '{print $3}' "$work/h2load.log" | sort -n | awk '{a[NR]=$1} END {printf "p50 %.2f ms  p99 %.2f ms  max %.2f ms", a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000, a[NR]/1000}')
  printf '  %-34s %9.0f req/s  %s  (failed+errored %s)\n' "$label" "$rps" "$pct" "$failed"
}
run "healthz, saturation (baseline)" -D "$DURATION" -c "$CLIENTS" -m "$STREAMS" "$health"
run "GetQueueStatus, saturation" -D "$DURATION" -c "$CLIENTS" -m "$STREAMS" "${grpc[@]}" "$lookup"
per_client=$((RATE / CLIENTS))
run "healthz at $RATE/s (baseline)" -D "$DURATION" -c "$CLIENTS" -m "$STREAMS" --rps "$per_client" "$health"
gc_now() { # "<gen0> <gen1> <gen2> <seconds paused>" of the gateway so far
  curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" | awk '
    /^dotnet_gc_collections_total/ { split($1, a, "\""); n[a[2]] = $2 }
    /^dotnet_gc_pause_time_seconds_total/ { paused = $2 }
    END { printf "%d %d %d %s", n["gen0"], n["gen1"], n["gen2"], paused }'
}
read -r g0 g1 g2 paused <<<"$(gc_now)"
run "GetQueueStatus at $RATE/s" -D "$DURATION" -c "$CLIENTS" -m "$STREAMS" --rps "$per_client" "${grpc[@]}" "$lookup"
# The collector's pauses stop every request in flight: what it did during the fixed-rate run.
read -r h0 h1 h2 paused_after <<<"$(gc_now)"
printf '    the gateway collected meanwhile: gen0 %d, gen1 %d, gen2 %d times, paused %.1f ms in all\n' \
  $((h0 - g0)) $((h1 - g1)) $((h2 - g2)) "$(echo "($paused_after - $paused) * 1000" | bc -l)"

echo "== ReportBeds at saturation: every hospital reports all its profiles, $ROUNDS rounds, $ROUND_CONCURRENCY hospitals at once"
dotnet bench/LoadTest/bin/Release/net10.0/BedBureau.LoadTest.dll --server "http://127.0.0.1:$GRPC_PORT" \
  --keys "${DATA:-$work/data}/demo-keys.json" --seed "$LOAD_SEED" --reporting-rounds "$ROUNDS" --concurrency "$ROUND_CONCURRENCY" \
  --gateway-metrics "http://127.0.0.1:$HTTP_PORT/metrics" | grep -vE '^[0-9:]+ ' || { echo "REPORTBEDS ROUNDS FAILED: see above"; exit 1; }

[ "$day_status" = 0 ] || { echo "THE NATIONAL DAY FAILED (exit $day_status): see above"; exit 1; }
