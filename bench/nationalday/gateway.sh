#!/usr/bin/env bash
# Starts run.sh's gateway, or restarts it on its store: stops the gateway whose pid is in
# $WORK/gateway.pid (if any), starts the built gateway with the settings in $WORK/gateway.args (one
# per line) and any given here, and returns once /healthz answers on $WORK/http.port, the seconds
# that took in $WORK/started. The load tool's no-shows phase runs it with the clock ahead:
#   gateway.sh WORK --Drill:ClockAheadDays=3
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$1; shift
mapfile -t args <"$work/gateway.args"
http_port=$(cat "$work/http.port")

if [ -f "$work/gateway.pid" ]; then
  old=$(cat "$work/gateway.pid")
  # Its peak resident memory, for run.sh's report.
  awk '/VmHWM/ {print $2}' "/proc/$old/status" >>"$work/rss-peaks" 2>/dev/null || true
  kill "$old" 2>/dev/null || true
  while kill -0 "$old" 2>/dev/null; do sleep 0.1; done
fi

t0=$(date +%s.%N)
dotnet src/Gateway/bin/Release/net10.0/BedBureau.Gateway.dll "${args[@]}" "$@" </dev/null >>"$work/gateway.log" 2>&1 &
pid=$!
echo "$pid" >"$work/gateway.pid"
until curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1; do
  kill -0 "$pid" 2>/dev/null || { echo "gateway died:" >&2; tail -20 "$work/gateway.log" >&2; exit 1; }
  sleep 0.1
done
echo "$(date +%s.%N) - $t0" | bc >"$work/started"
