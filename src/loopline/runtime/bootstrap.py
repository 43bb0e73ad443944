"""Embedded first run: an organization, a development API key, and the way to its first owner.

The first owner is created by opening the one-time link `first_owner_link` returns (printed by
`loopline up` while the org has no user), or with the bootstrap key (`POST /v1/user`: the key is
an owner-level service key)."""

from __future__ import annotations

import os

from loopline.common.service import ServiceContext, ServiceStates
from loopline.gateway.state import State as GatewayState


async def bootstrap_dev_key(ctx: ServiceContext, states: ServiceStates) -> tuple[str, str]:
    """Ensure the bootstrap org and a development key exist; return (org_id, key).

    The key is `LOOPLINE_BOOTSTRAP_API_KEY` when set; otherwise one generated on first run and
    kept in `<data_dir>/dev-api-key` (mode 0600) so later runs print the same key.
    """
    keys = states.get(GatewayState).keys
    org_id = await keys.ensure_org(ctx.settings.bootstrap_org_name)
    key = ctx.settings.bootstrap_api_key
    key_file = ctx.settings.data_dir / "dev-api-key"
    if not key and key_file.exists():
        key = key_file.read_text().strip()
    if not key:
        key, _ = await keys.create_key(org_id, "development")
        key_file.write_text(key + "\n")
        os.chmod(key_file, 0o600)
    elif not await keys.has_key(key):
        await keys.register_key(org_id, key, "bootstrap")
    return org_id, key


#: how long a printed first-owner link stays usable
FIRST_OWNER_LINK_TTL_S = 86400.0


async def first_owner_link(
    ctx: ServiceContext, states: ServiceStates, org_id: str, base_url: str
) -> str | None:
    """A one-time link that creates the org's first owner, while the org has no user; else None."""
    users = states.get(GatewayState).users
    if await users.list_users(org_id):
        return None
    token, _ = await users.invite(org_id, "owner", created_by="first-run", ttl_s=FIRST_OWNER_LINK_TTL_S)
    return f"{base_url.rstrip('/')}/app/invite#token={token}"
