#!/usr/bin/env bash
# Loads, in one run and with the same h2load settings, the same unary call on:
#   ours    our gRPC layer on Kestrel  (InteropHost, grpc.testing.TestService/UnaryCall)
#   plain   plain Kestrel HTTP/2 answering the same bytes without our layer (InteropHost --bench)
#   python  Python grpcio (tests/GrpcServer.Tests/interop/python/test_server.py)
# and prints requests/s and the ratios ours/plain and ours/python, then the server process's
# allocated bytes per call for ours and plain (GC.GetTotalAllocatedBytes around a fixed run).
# Needs: dotnet, h2load and nghttp (nghttp2-client), protoc, /usr/bin/python3 with grpcio.
# Settings: DURATION (s, default 3), WARMUP (s, 1), CLIENTS (50), STREAMS (10), ROUNDS (7).
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
CLIENTS=${CLIENTS:-50}
STREAMS=${STREAMS:-10}
ROUNDS=${ROUNDS:-7}
ALLOC_REQUESTS=${ALLOC_REQUESTS:-100000}
OURS_PORT=${OURS_PORT:-30461} # below the ephemeral range: see bench/nationalday/run.sh

work=$(mktemp -d /tmp/bedbureau-h2load.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== build"
dotnet build tests/InteropHost -c Release -v quiet -nologo >/dev/null
protoc -I tests/InteropHost/protos --python_out="$work" tests/InteropHost/protos/grpc/testing/*.proto

# One framed SimpleRequest{response_size: 64, payload: 64 zero bytes}: the same request for all.
/usr/bin/python3 - "$work" <<'PY'
import sys, struct
import grpc
grpc.__path__.append(sys.argv[1] + "/grpc")
from grpc.testing import messages_pb2 as m
body = m.SimpleRequest(response_size=64, payload=m.Payload(body=b"\0" * 64)).SerializeToString()
open(sys.argv[1] + "/request.bin", "wb").write(b"\0" + struct.pack(">I", len(body)) + body)
PY

echo "== servers"
dotnet tests/InteropHost/bin/Release/net10.0/BedBureau.InteropHost.dll --port "$OURS_PORT" --bench >"$work/ours.log" 2>&1 &
pids+=($!)
/usr/bin/python3 -u tests/GrpcServer.Tests/interop/python/test_server.py --gen "$work" >"$work/python.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  grep -q '^PORT ' "$work/python.log" 2>/dev/null \
    && nghttp "http://127.0.0.1:$OURS_PORT/bench/allocated" 2>/dev/null | grep -q '^[0-9]' && break
  sleep 0.2
done
python_port=$(sed -n 's/^PORT //p' "$work/python.log")

declare -A url=(
  [ours]="http://127.0.0.1:$OURS_PORT/grpc.testing.TestService/UnaryCall"
  [plain]="http://127.0.0.1:$OURS_PORT/plain/UnaryCall"
  [python]="http://127.0.0.1:$python_port/grpc.testing.TestService/UnaryCall"
)
headers=(-H 'content-type: application/grpc' -H 'te: trailers')

# Each target must really answer the call: grpc-status 0 and the same response body.
for target in ours plain python; do
  out=$(nghttp -v -d "$work/request.bin" "${headers[@]}" "${url[$target]}" 2>&1 | tr -d '\0')
  grep -q 'grpc-status: 0' <<<"$out" || { echo "$target did not answer grpc-status 0:"; echo "$out"; exit 1; }
  nghttp -d "$work/request.bin" "${headers[@]}" "${url[$target]}" >"$work/$target.body"
done
cmp -s "$work/ours.body" "$work/plain.body" && cmp -s "$work/ours.body" "$work/python.body" \
  || { echo "the targets answer different bytes"; exit 1; }

# Untimed first pass: .NET tiers its hot methods up in the background only after some
# seconds of calls; the first measured round was always the slowest without this.
for target in ours plain python; do
  h2load -D 4 -c "$CLIENTS" -m "$STREAMS" -t 1 -d "$work/request.bin" "${headers[@]}" "${url[$target]}" >/dev/null
done

echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores; other processes compete)"
settings=(-D "$DURATION" --warm-up-time="$WARMUP" -c "$CLIENTS" -m "$STREAMS" -t 1 -d "$work/request.bin" "${headers[@]}")
echo "== h2load ${settings[*]:0:9}, ${ROUNDS} rounds; each round loads the three targets back to back"
declare -A all=([ours]="" [plain]="" [python]="")
ratios_plain=""
ratios_python=""
for round in $(seq "$ROUNDS"); do
  declare -A rps=()
  for target in ours plain python; do
    out=$(h2load "${settings[@]}" "${url[$target]}")
    rps[$target]=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
    failed=$(sed -n 's/^requests: .* \([0-9]*\) failed, \([0-9]*\) errored.*/\1+\2/p' <<<"$out")
    [ "$failed" = "0+0" ] || { echo "$target: failed+errored $failed"; exit 1; }
    all[$target]+="${rps[$target]} "
  done
  r_plain=$(awk -v o="${rps[ours]}" -v k="${rps[plain]}" 'BEGIN { printf "%.2f", o / k }')
  r_python=$(awk -v o="${rps[ours]}" -v p="${rps[python]}" 'BEGIN { printf "%.1f", o / p }')
  ratios_plain+="$r_plain "
  ratios_python+="$r_python "
  printf '  round %s  ours %6.0f  plain %6.0f  python %5.0f req/s   ours/plain %s  ours/python %s\n' \
    "$round" "${rps[ours]}" "${rps[plain]}" "${rps[python]}" "$r_plain" "$r_python"
done

# Rounds are noisy on a shared machine: the median of the per-round ratios is the figure.
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo "== result (median of rounds); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for target in ours plain python; do printf '  %-6s %8.0f req/s\n' "$target" "$(median <<<"${all[$target]}")"; done
printf '  ours/plain  %sx  (target >= 0.8x)\n' "$(median <<<"$ratios_plain")"
printf '  ours/python %sx  (target >= 10x)\n' "$(median <<<"$ratios_python")"

echo "== allocated per call in the server process (h2load -n $ALLOC_REQUESTS -c $CLIENTS -m $STREAMS)"
for target in ours plain; do
  before=$(nghttp "http://127.0.0.1:$OURS_PORT/bench/allocated")
  h2load -n "$ALLOC_REQUESTS" -c "$CLIENTS" -m "$STREAMS" -t 1 -d "$work/request.bin" "${headers[@]}" "${url[$target]}" >/dev/null
  after=$(nghttp "http://127.0.0.1:$OURS_PORT/bench/allocated")
  per_call=$(( (after - before) / ALLOC_REQUESTS ))
  printf '  %-6s %6d B/call\n' "$target" "$per_call"
  eval "alloc_$target=$per_call"
done
printf '  our layer (ours - plain) %d B/call  (target <= 1024)\n' "$((alloc_ours - alloc_plain))"
