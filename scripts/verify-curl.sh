#!/usr/bin/env bash
# The baseline `verify` is benchmarked against: the requests the Authplane examples' `make verify`
# (scripts/verify.sh, reference/authserver-0.2.2.md §4.4) makes, with curl and jq, against an
# already running stack. Same order and same checks; no sleeps, because on a warm stack every
# readiness poll succeeds at once.
# Usage: scripts/verify-curl.sh   (reads .env in the current directory like verify.sh does)
set -euo pipefail
set -a
# shellcheck disable=SC1091
. ./.env
set +a
: "${AUTHPLANE_ADMIN_API_KEY:?AUTHPLANE_ADMIN_API_KEY is not set}"
issuer=${AUTHPLANE_SERVER_ISSUER:-http://localhost:9000}
admin_address=${AUTHPLANE_ADMIN_ADDRESS:-:9001}
admin_url=${ADMIN_URL:-http://localhost:${admin_address##*:}}
mcp_url=${MCP_URL:-${AUTHPLANE_BASE_URL:-http://localhost:8080}/mcp}
resource_uri=${RESOURCE_URI:-$mcp_url}
key=$AUTHPLANE_ADMIN_API_KEY

# 1. discovery
curl -fsS --max-time 2 "$issuer/.well-known/oauth-authorization-server" >/dev/null
echo "authserver discovery OK"

# 2. resource (an HTTP error means "assume it already exists", as verify.sh does)
body=$(curl -fsS -X POST "$admin_url/admin/resources" \
  -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d "{\"slug\":\"demo-mcp\",\"uri\":\"$resource_uri\",\"backend_kind\":\"mint\",\"display_name\":\"Demo MCP\",\"scopes\":[{\"name\":\"mcp:echo\",\"description\":\"echo tool\"}]}" \
  2>/dev/null || true)
if [ -n "$body" ]; then echo "resource registered"; else echo "resource exists, continuing"; fi

# 3. client (a new one every run, as verify.sh does)
client=$(curl -fsS -X POST "$admin_url/admin/clients" \
  -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"client_name":"demo-mcp-client","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","scope":"mcp:echo"}')
client_id=$(jq -r .client_id <<<"$client")
client_secret=$(jq -r .client_secret <<<"$client")
echo "client created: $client_id"

# 4. unauthenticated probe: 401 or 405 means the MCP server is up
code=$(curl -s -o /dev/null -w '%{http_code}' "$mcp_url")
case $code in 401 | 405) echo "mcp-server is up (HTTP $code)" ;; *) echo "probe: HTTP $code" >&2; exit 1 ;; esac

# 5. token
token=$(curl -fsS -u "$client_id:$client_secret" "$issuer/oauth/token" \
  -d grant_type=client_credentials -d scope=mcp:echo --data-urlencode "resource=$resource_uri" |
  jq -r .access_token)
echo "token minted (length=${#token})"

accept='Accept: application/json, text/event-stream'
# 6. initialize
headers=$(mktemp)
trap 'rm -f "$headers"' EXIT
init=$(curl -fsS -D "$headers" "$mcp_url" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -H "$accept" \
  -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"verify.sh","version":"1.0"}}}')
session=$(grep -i '^mcp-session-id:' "$headers" | cut -d' ' -f2 | tr -d '\r')
grep -q demo-server <<<"$init"
echo "initialize OK (session ${session:0:8}…)"

# 7. initialized notification
curl -fsS "$mcp_url" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -H "$accept" -H "Mcp-Session-Id: $session" \
  -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
echo "notifications/initialized OK"

# 8. tools/call
reply=$(curl -fsS "$mcp_url" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -H "$accept" -H "Mcp-Session-Id: $session" \
  -d '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"round-trip"}}}' |
  sed -n 's/^data: //p')
grep -q round-trip <<<"$reply"
echo "tools/call echo OK"
echo "ALL CHECKS PASSED"
