"""`/logs3` with an overflow reference: the rows were uploaded to the blob store first."""

from __future__ import annotations

from typing import Any

from loopline.common.auth import Principal
from loopline.common.service import ServiceContext
from loopline.ingest.blobs import BlobError, BlobStore
from loopline.ingest.body import IngestError, parse_json


async def load_overflow(ctx: ServiceContext, principal: Principal, ref: dict[str, Any]) -> tuple[Any, int]:
    key = ref.get("key")
    if not isinstance(key, str) or not key.startswith(f"{principal.org_id}/overflow/"):
        raise IngestError(
            404,
            "overflow reference 'rows.key' does not name an upload of this organization",
            field="rows.key",
        )
    blobs: BlobStore = ctx.shared["blobs"]
    try:
        data = await blobs.get(key)
    except BlobError as exc:
        raise IngestError(404, f"overflow payload {key!r} was not uploaded", field="rows.key") from exc
    if len(data) > ctx.settings.max_request_bytes:
        raise IngestError(
            413, f"overflow payload exceeds the limit of {ctx.settings.max_request_bytes} bytes"
        )
    doc = parse_json(data)
    rows = doc.get("rows") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise IngestError(400, "overflow payload must be a JSON object with a 'rows' array", field="rows")
    return rows, len(data)
