#!/usr/bin/env bash
# Measures, by wall time, how fast a configuration error is answered (issue 11, "check before
# acting"): `verify --wait-timeout 600` in a directory whose .env has PORT differing from the port
# in AUTHPLANE_BASE_URL. Before the pre-flight this waited the whole timeout for an echo server
# listening elsewhere; now the configuration step refuses it with exit 2 before anything starts.
# Usage: scripts/bench-refusal.sh [BINARY] [RUNS]   (default: target/release/authplane-dev, 20)
set -euo pipefail
bin=$(realpath "${1:-target/release/authplane-dev}")
runs=${2:-20}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
cat > .env <<'ENV'
AUTHPLANE_SERVER_ADDRESS=:31900
AUTHPLANE_ADMIN_ADDRESS=:31901
AUTHPLANE_BASE_URL=http://localhost:31980
PORT=31981
AUTHPLANE_DEV_AS=embedded
ENV
now_us() { echo $(( $(date +%s%N) / 1000 )); }
ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
times=()
for _ in $(seq "$runs"); do
  t0=$(now_us)
  code=0; "$bin" verify --wait-timeout 600 >/dev/null 2>&1 || code=$?
  t1=$(now_us)
  [ "$code" = 2 ] || { echo "expected exit 2, got $code" >&2; exit 1; }
  times+=("$(ms $((t1 - t0)))")
done
[ ! -e .run/authserver.pid ] && [ ! -e .run/echo.pid ] || { echo "a refused run left a pid file" >&2; exit 1; }
echo "refused verify, PORT ≠ base URL port ($runs runs, ms): ${times[*]}  median $(printf '%s\n' "${times[@]}" | median)"
