"""``python -m clipforge.mcp [--transport stdio|streamable-http] [--host H] [--port P]``."""

from __future__ import annotations

import argparse
import sys

from clipforge.mcp.server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clipforge.mcp", description=__doc__)
    parser.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-url", help="gateway URL [env CLIPFORGE_API_URL]")
    parser.add_argument("--api-key", help="API key [env CLIPFORGE_API_KEY]")
    args = parser.parse_args(argv)
    serve(args.transport, host=args.host, port=args.port, api_url=args.api_url, api_key=args.api_key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
