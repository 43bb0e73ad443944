"""`/logs3` with an overflow reference: the rows were uploaded to the blob store first."""

from __future__ import annotations

from typing import Any

from loopline.common.auth import Principal
from loopline.common.errors import ServiceError
from loopline.ingest.blobs import BlobError, BlobStore
from loopline.ingest.body import parse_json


async def load_overflow(
    blobs: BlobStore, max_bytes: int, principal: Principal, ref: dict[str, Any]
) -> tuple[Any, int]:
    """The rows of an overflow reference and the payload's size (refusals are 4xx)."""
    key = ref.get("key")
    if not isinstance(key, str) or not key.startswith(f"{principal.org_id}/overflow/"):
        raise ServiceError(
            404,
            "overflow reference 'rows.key' does not name an upload of this organization",
            field="rows.key",
        )
    try:
        data = await blobs.get(key)
    except BlobError as exc:
        raise ServiceError(404, f"overflow payload {key!r} was not uploaded", field="rows.key") from exc
    if len(data) > max_bytes:
        raise ServiceError(413, f"overflow payload exceeds the limit of {max_bytes} bytes")
    doc = parse_json(data)
    rows = doc.get("rows") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ServiceError(400, "overflow payload must be a JSON object with a 'rows' array", field="rows")
    return rows, len(data)
