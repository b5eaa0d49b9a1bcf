"""``python -m clipforge.gateway.keys_cli create|revoke|list``: manage API keys.

Reads the same ``CLIPFORGE_*`` settings as the gateway (``CLIPFORGE_MONGO_URL``...).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from clipforge.gateway.keys import KeyStore
from clipforge.gateway.settings import GatewaySettings
from clipforge.shared.jobs import connect


@asynccontextmanager
async def key_store(settings: GatewaySettings | None = None) -> AsyncIterator[KeyStore]:
    """The API keys in the gateway's database (``CLIPFORGE_MONGO_URL``...); also used by ``clipforge keys``."""
    settings = settings or GatewaySettings()
    client = connect(settings.mongo_url, settings.database_timeout_ms)
    try:
        store = KeyStore(client[settings.mongo_database])
        await store.ensure_indexes()
        yield store
    finally:
        await client.close()


async def _run(args: argparse.Namespace) -> int:
    async with key_store() as store:
        if args.command == "create":
            issued = await store.create(args.tenant, args.name, admin=args.admin)
            if args.json:
                print(
                    json.dumps(
                        {
                            "key_id": issued.key_id,
                            "tenant_id": issued.tenant_id,
                            "api_key": issued.api_key,
                            "admin": issued.admin,
                        }
                    )
                )
            else:
                scope = "admin key" if issued.admin else "API key"
                print(f"{scope} for tenant {issued.tenant_id} (id {issued.key_id}); it is shown only this once:")
                print(issued.api_key)
            return 0
        if args.command == "revoke":
            if await store.revoke(args.key_id):
                print(f"revoked {args.key_id}")
                return 0
            print(f"no active key {args.key_id}", file=sys.stderr)
            return 1
        for key in await store.list(args.tenant):
            state = "revoked" if key.get("revoked_at") else "active"
            scope = "admin" if key.get("admin") else ""
            print(f"{key['_id']}  {key['tenant_id']:<20} {state:<8} {scope:<6} {key.get('name', '')}")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clipforge.gateway.keys_cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key for a tenant and print it once")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", default="")
    create.add_argument("--json", action="store_true")
    create.add_argument(
        "--admin", action="store_true", help="the key may also use the operators' endpoints (/v1/admin/...)"
    )
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    listing = commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--tenant")
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
