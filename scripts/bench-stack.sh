#!/usr/bin/env bash
# Measures `up` to ready (cold: both servers started) and `verify` on a warm stack, by wall time.
# Usage: scripts/bench-stack.sh [BINARY] [RUNS]   (default: target/release/authplane-dev, 20 runs)
# Runs in a scratch directory on free-ish ports and cleans up after itself.
set -euo pipefail
bin=$(realpath "${1:-target/release/authplane-dev}")
runs=${2:-20}
work=$(mktemp -d)
trap '(cd "$work" && "$bin" clean --all >/dev/null 2>&1) || true; rm -rf "$work"' EXIT
base=$((30000 + RANDOM % 2000))
cat > "$work/.env" <<ENV
AUTHPLANE_SERVER_ISSUER=http://localhost:$base
AUTHPLANE_ISSUER=http://localhost:$base
AUTHPLANE_SERVER_ADDRESS=:$base
AUTHPLANE_ADMIN_ADDRESS=:$((base + 1))
AUTHPLANE_BASE_URL=http://localhost:$((base + 2))
PORT=$((base + 2))
AUTHPLANE_ADMIN_API_KEY=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
AUTHPLANE_DEV_AS=embedded
ENV
cd "$work"
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

ups=()
for _ in 1 2 3 4 5; do
  "$bin" clean >/dev/null
  t0=$(now_ms); "$bin" up >/dev/null; t1=$(now_ms)
  ups+=($((t1 - t0)))
done
"$bin" verify >/dev/null   # registers resource and client once
verifies=()
for _ in $(seq "$runs"); do
  t0=$(now_ms); "$bin" verify >/dev/null; t1=$(now_ms)
  verifies+=($((t1 - t0)))
done
echo "up to ready (5 runs, ms):      ${ups[*]}  median $(printf '%s\n' "${ups[@]}" | median)"
echo "verify warm ($runs runs, ms):  ${verifies[*]}  median $(printf '%s\n' "${verifies[@]}" | median)"
