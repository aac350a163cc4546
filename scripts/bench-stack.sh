#!/usr/bin/env bash
# Measures, by wall time, as a user runs it:
#   - `up` to ready (cold: both embedded servers started and health-waited), 5 runs;
#   - `verify --flow auth-code` on a warm stack (the interactive MCP client flow);
#   - `verify` on a warm stack and, interleaved in the same run so both see the same machine load,
#     scripts/verify-curl.sh (the requests of the seed's `make verify`, with curl and jq);
#   - resident memory (VmHWM, peak RSS) of the two embedded servers after the runs;
#   - the binary's size.
# Usage: scripts/bench-stack.sh [BINARY] [RUNS]   (default: target/release/authplane-dev, 20 runs)
# Runs in a scratch directory on free-ish ports and cleans up after itself.
set -euo pipefail
bin=$(realpath "${1:-target/release/authplane-dev}")
runs=${2:-20}
curl_script=$(realpath "$(dirname "$0")/verify-curl.sh")
# shellcheck source=scripts/scratch-stack.sh
. "$(dirname "$0")/scratch-stack.sh"
scratch_stack 30000
now_us() { echo $(( $(date +%s%N) / 1000 )); }
ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

ups=()
for _ in 1 2 3 4 5; do
  "$bin" clean >/dev/null
  t0=$(now_us); "$bin" up >/dev/null; t1=$(now_us)
  ups+=("$(ms $((t1 - t0)))")
done
"$bin" verify >/dev/null   # registers the resource and the client once
"$curl_script" >/dev/null  # and proves the baseline passes before timing it
verifies=()
curls=()
for _ in $(seq "$runs"); do
  t0=$(now_us); "$bin" verify >/dev/null; t1=$(now_us)
  verifies+=("$(ms $((t1 - t0)))")
  t0=$(now_us); "$curl_script" >/dev/null; t1=$(now_us)
  curls+=("$(ms $((t1 - t0)))")
done
authcodes=()
"$bin" verify --flow auth-code >/dev/null   # proves the flow passes before timing it
for _ in $(seq "$runs"); do
  # ~16 requests per run: back to back they would exceed the AS's rate limit (100 requests/s per
  # IP, burst 200, as authserver's default) and measure its 429s. The pause is outside the timing.
  sleep 0.3
  t0=$(now_us); "$bin" verify --flow auth-code >/dev/null; t1=$(now_us)
  authcodes+=("$(ms $((t1 - t0)))")
done
mv=$(printf '%s\n' "${verifies[@]}" | median)
mc=$(printf '%s\n' "${curls[@]}" | median)
echo "up to ready (5 runs, ms):           ${ups[*]}  median $(printf '%s\n' "${ups[@]}" | median)"
echo "verify warm ($runs runs, ms):         ${verifies[*]}  median $mv"
echo "verify --flow auth-code warm ($runs runs, ms): ${authcodes[*]}  median $(printf '%s\n' "${authcodes[@]}" | median)"
echo "curl verify.sh steps ($runs runs, ms): ${curls[*]}  median $mc"
echo "speed-up (median curl / median verify): $(awk -v a="$mc" -v b="$mv" 'BEGIN { printf "%.1fx", a / b }')"
for component in authserver echo; do
  pid=$(head -1 ".run/$component.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
    echo "$component peak RSS: $(awk '/VmHWM/ {print $2, $3}' "/proc/$pid/status")"
  fi
done
echo "binary size: $(stat -c %s "$bin") bytes"
