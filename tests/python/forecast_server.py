"""An MCP server nobody at authplane-dev wrote the client for: FastMCP + authplane-fastmcp with
one tool, `forecast(city, days=1)`, that requires the scope it advertises (FastMCP hides a tool
from a token without the scope). No `echo` tool, so `authplane-dev verify` needs `--tool` or
makes `tools/list` its round trip. Started by tests/fastmcp.rs:

    python forecast_server.py ISSUER BASE_URL PORT
"""

import asyncio
import sys

from authplane_fastmcp import authplane_auth
from fastmcp import FastMCP
from fastmcp.server.auth import require_scopes


async def main(issuer: str, base_url: str, port: int) -> None:
    auth = await authplane_auth(
        issuer=issuer, base_url=base_url, scopes=["forecast:read"], dev_mode=True
    )
    mcp = FastMCP("forecast-server", **auth)

    @mcp.tool(auth=require_scopes("forecast:read"))
    def forecast(city: str, days: int = 1) -> str:
        """A made-up forecast for a city."""
        return f"{city}: sunny for {days} day(s)"

    try:
        await mcp.run_async(
            transport="http", host="127.0.0.1", port=port, show_banner=False
        )
    finally:
        await auth.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
