#!/usr/bin/env bash
# Authenticated `tools/call echo` throughput and latency of the echo server, measured with wrk
# (a C load generator that leaves most of the machine to the server), in both MCP protocol eras:
#   - session (2025-11-25): one session opened with curl, shared by every connection;
#   - stateless (2026-07-28): every request stands alone.
# Each level runs wrk with one thread and 1 or 32 connections for SECS seconds, then prints
# requests/s and the p50/p99 latency wrk reports, and finally the servers' peak RSS.
# Usage: scripts/bench-echo-wrk.sh [BINARY] [SECS]   (needs wrk: `apt-get install wrk`)
# WRK_RAW=1 also prints wrk's own report of each level on stderr.
set -euo pipefail
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 3; }
bin=$(realpath "${1:-target/release/authplane-dev}")
secs=${2:-5}
# shellcheck source=scripts/scratch-stack.sh
. "$(dirname "$0")/scratch-stack.sh"
scratch_stack 32000
"$bin" up >/dev/null
"$bin" verify >/dev/null
token=$("$bin" token)
mcp=http://127.0.0.1:$((base + 2))/mcp
accept='Accept: application/json, text/event-stream'

session=$(curl -fsS -D - -o /dev/null "$mcp" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -H "$accept" \
  -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"wrk","version":"1"}}}' |
  sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *//p' | tr -d '\r')
curl -fsS -o /dev/null "$mcp" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -H "$accept" -H "Mcp-Session-Id: $session" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'

cat > session.lua <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Authorization"] = "Bearer $token"
wrk.headers["Mcp-Session-Id"] = "$session"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
-- Requests in one session need distinct JSON-RPC ids: the session routes answers by id.
local id = 0
request = function()
  id = id + 1
  return wrk.format(nil, nil, nil,
    '{"jsonrpc":"2.0","id":' .. id .. ',"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}')
end
LUA
cat > stateless.lua <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Authorization"] = "Bearer $token"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "echo"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"wrk","version":"1"}}}}'
LUA
# Every answer must be a 200 carrying the echoed text, or the numbers measure refusals.
cat >> session.lua <<'LUA'
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"hi"', 1, true) then
    io.stderr:write("unexpected answer: " .. status .. " " .. body .. "\n")
    os.exit(1)
  end
end
LUA
sed -n '/^response = /,$p' session.lua >> stateless.lua

echo "| protocol era | connections | requests | req/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|"
for era in session stateless; do
  for conns in 1 32; do
    out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$era.lua" "$mcp")
    [ -n "${WRK_RAW:-}" ] && echo "$out" >&2
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
    ms() { awk -v p="$1" '$1 == p { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.2f", v }' <<<"$out"; }
    name=$([ "$era" = session ] && echo "2025-11-25 (session)" || echo "2026-07-28 (stateless)")
    echo "| $name | $conns | $reqs | $rps | $(ms 50%) | $(ms 99%) |"
  done
done
for component in authserver echo; do
  pid=$(head -1 ".run/$component.pid")
  echo "$component peak RSS: $(awk '/VmHWM/ {print $2, $3}' "/proc/$pid/status")"
done
