"""The seed example's MCP server: FastMCP + authplane-fastmcp, one tool `echo(text)`.

Like the seed, the scope is advertised (PRM `scopes_supported`) but no tool requires it, so
`authplane-dev verify` reports `scope_not_enforced`. Started by tests/fastmcp.rs:

    python seed_server.py ISSUER BASE_URL PORT
"""

import asyncio
import sys

from authplane_fastmcp import authplane_auth
from fastmcp import FastMCP


async def main(issuer: str, base_url: str, port: int) -> None:
    auth = await authplane_auth(
        issuer=issuer, base_url=base_url, scopes=["mcp:echo"], dev_mode=True
    )
    mcp = FastMCP("demo-server", **auth)

    @mcp.tool
    def echo(text: str) -> str:
        """Returns the text it is given."""
        return text

    try:
        await mcp.run_async(
            transport="http", host="127.0.0.1", port=port, show_banner=False
        )
    finally:
        await auth.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
