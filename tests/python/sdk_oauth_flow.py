"""The official MCP Python SDK's OAuth client (PyPI `mcp`, `OAuthClientProvider`) against an MCP
server behind the local stack, with the user's part done in a real headless Chromium.

The SDK does everything a spec-following client does on its own: the 401, Protected Resource
Metadata, AS metadata, dynamic registration, the authorization request with PKCE and
`resource`, the code exchange, and later the refresh. This script only supplies what an
application supplies: token storage, a redirect handler (here: Chromium opens the URL, logs in
and approves consent) and a callback handler (a loopback listener catches the redirect).
Started by tests/oauth_clients.rs, which reads the config as one JSON object on stdin:

    {"mcp_url", "issuer", "email", "password", "chromium", "chromedriver", "profile_dir"}

and gets one JSON object on stdout: every HTTP exchange the SDK made (the trail), the tokens'
fingerprints and claims, the registered client and the tool results. Exits non-zero, with the
reason on stderr, when a step fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import time
from urllib.parse import parse_qs

import anyio
import httpx
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from oauth_browser import (
    APPROVE,
    Callback,
    decide,
    emit,
    log,
    sign_in,
    start_browser,
    wait_for_any_form,
)

CLIENT_NAME = "MCP Python SDK (authplane-dev test)"

# Tokens that live at most this long are left to expire for real before the refresh; a longer
# lifetime (an AS without a short user-token setting) is ended early instead (see below).
WAIT_FOR_EXPIRY_UP_TO = 5


class MemoryStorage:
    """The SDK's TokenStorage: keeps what the SDK stores and every token set it was given."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None
        self.history: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def claims(jwt: str) -> dict[str, object]:
    """A JWT's payload, unverified: the test compares it with what the AS says it issued."""
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def fingerprint(secret: str | None) -> str | None:
    return hashlib.sha256(secret.encode()).hexdigest()[:16] if secret else None


def tool_text(result: object) -> str:
    assert not getattr(result, "isError", False), f"the tool call failed: {result}"
    return "".join(getattr(c, "text", "") for c in result.content)  # type: ignore[attr-defined]


async def run(cfg: dict[str, str]) -> dict[str, object]:
    callback = Callback()
    driver = start_browser(cfg["chromium"], cfg["chromedriver"], cfg["profile_dir"])
    storage = MemoryStorage()
    trail: list[dict[str, object]] = []
    authorizations: list[str] = []
    responses: list[dict[str, str]] = []

    def browse(url: str) -> None:
        driver.get(url)
        if wait_for_any_form(driver, "/login", "/consent") == "/login":
            sign_in(driver, cfg["email"], cfg["password"])
        decide(driver, APPROVE)

    async def redirect_handler(url: str) -> None:
        log(f"authorization request: {url}")
        authorizations.append(url)
        await anyio.to_thread.run_sync(browse, url)

    async def callback_handler() -> tuple[str, str | None]:
        params = await anyio.to_thread.run_sync(callback.wait)
        log(f"authorization response: {sorted(params)}")
        responses.append(params)
        assert "code" in params, f"no code in the authorization response: {params}"
        # RFC 9207: the SDK does not check `iss`; a careful client would.
        assert params.get("iss") == cfg["issuer"], f"iss {params.get('iss')!r} != {cfg['issuer']!r}"
        return params["code"], params.get("state")

    async def record(response: httpx.Response) -> None:
        request = response.request
        entry: dict[str, object] = {
            "method": request.method,
            "url": str(request.url.copy_with(query=None)),
            "status": response.status_code,
        }
        if request.url.path.endswith("/token"):
            entry["grant_type"] = parse_qs(request.content.decode()).get("grant_type", [""])[0]
        trail.append(entry)
        log(f"{entry}")

    provider = OAuthClientProvider(
        server_url=cfg["mcp_url"],
        client_metadata=OAuthClientMetadata(
            client_name=CLIENT_NAME,
            redirect_uris=[callback.redirect_uri],  # type: ignore[list-item]
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        timeout=60,
    )

    echoed: list[str] = []
    refresh = "none"
    try:
        async with httpx.AsyncClient(
            auth=provider, event_hooks={"response": [record]}, timeout=30
        ) as http:
            async with streamable_http_client(cfg["mcp_url"], http_client=http) as (read, write, _):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    echoed.append(tool_text(await session.call_tool("echo", {"text": "first call"})))

                    # The refresh: the SDK refreshes by itself once its access token's
                    # expires_in has passed. A short-lived token is waited out for real; a
                    # long-lived one is declared expired through the SDK's own expiry field
                    # (what the clock would do later), never by touching the token itself.
                    lifetime = storage.tokens.expires_in if storage.tokens else None
                    if lifetime is not None and lifetime <= WAIT_FOR_EXPIRY_UP_TO:
                        refresh = f"waited out expires_in={lifetime}"
                        await anyio.sleep(lifetime + 1.1)
                    else:
                        refresh = f"expiry brought forward (expires_in={lifetime})"
                        provider.context.token_expiry_time = time.time() - 1
                    echoed.append(tool_text(await session.call_tool("echo", {"text": "after refresh"})))
    finally:
        driver.quit()
        callback.close()

    client = storage.client
    return {
        "trail": trail,
        "authorizations": len(authorizations),
        "authorization_requests": authorizations,
        "authorization_responses": [sorted(p) for p in responses],
        "client": {
            "client_id": client.client_id if client else None,
            "client_name": CLIENT_NAME,
            "redirect_uri": callback.redirect_uri,
            "token_endpoint_auth_method": client.token_endpoint_auth_method if client else None,
            "client_secret_issued": bool(client and client.client_secret),
        },
        "tokens": [
            {
                "access": fingerprint(t.access_token),
                "refresh": fingerprint(t.refresh_token),
                "expires_in": t.expires_in,
                "scope": t.scope,
                "claims": claims(t.access_token),
            }
            for t in storage.history
        ],
        "refresh": refresh,
        "echoed": echoed,
    }


def main() -> None:
    cfg = json.load(sys.stdin)
    emit(anyio.run(run, cfg))


if __name__ == "__main__":
    main()
