"""Embedded first run: an organization and a development API key."""

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
