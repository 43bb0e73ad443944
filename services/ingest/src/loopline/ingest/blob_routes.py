"""Attachments (`/attachment*`), the `/logs3/overflow` upload handshake, and `/blob/{token}`.

`/blob/{token}` is the one unauthenticated path of ingest: the signed token authorises exactly
one key and method until it expires. Blob errors (`blobs.BlobError` kinds) and refusals
(`ServiceError`) are answered by the app's error table.
"""

from __future__ import annotations

import uuid
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from loopline.common.errors import ServiceError
from loopline.common.http import JSONResponse
from loopline.common.service import ServiceContext
from loopline.ingest.blobs import BlobError, check_key
from loopline.ingest.body import parse_json, read_body
from loopline.ingest.deps import Blobs, Caller, Signer
from loopline.ingest.settings import IngestSettings


def attachment_key(org_id: str, key: str) -> str:
    return f"{org_id}/attachments/{check_key(key)}"


async def json_body(request: Request) -> dict[str, Any]:
    doc = parse_json(await read_body(request, 1024 * 1024))
    if not isinstance(doc, dict):
        raise ServiceError(400, "body must be a JSON object")
    return doc


def str_field(doc: dict[str, Any], name: str) -> str:
    v = doc.get(name)
    if not isinstance(v, str) or not v:
        raise ServiceError(400, f"'{name}' must be a non-empty string", field=name)
    return v


def build_blob_router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter()
    max_bytes = ctx.settings.section(IngestSettings).max_request_bytes

    @router.post("/attachment")
    async def attachment_upload(request: Request, principal: Caller, blobs: Blobs) -> Response:
        doc = await json_body(request)
        key = attachment_key(principal.org_id, str_field(doc, "key"))
        content_type = doc.get("content_type") or "application/octet-stream"
        url, headers = blobs.upload_url(key, str(request.base_url), str(content_type))
        return JSONResponse({"signedUrl": url, "headers": headers})

    @router.post("/attachment/status")
    async def attachment_status(request: Request, principal: Caller, blobs: Blobs) -> Response:
        doc = await json_body(request)
        key = attachment_key(principal.org_id, str_field(doc, "key"))
        status = doc.get("status")
        if not isinstance(status, dict) or status.get("upload_status") not in ("uploading", "done", "error"):
            raise ServiceError(
                400, "'status.upload_status' must be one of uploading, done, error", field="status"
            )
        await blobs.put(key + ".status", orjson.dumps(status), "application/json")
        return JSONResponse({})

    @router.get("/attachment")
    async def attachment_download(
        request: Request, principal: Caller, blobs: Blobs, key: str = ""
    ) -> Response:
        if not key:
            raise ServiceError(400, "query parameter 'key' is required", field="key")
        full = attachment_key(principal.org_id, key)
        if not await blobs.exists(full):
            raise ServiceError(404, f"no attachment with key {key!r}")
        try:
            status = orjson.loads(await blobs.get(full + ".status"))
        except BlobError:
            status = {"upload_status": "done"}
        url = blobs.download_url(full, str(request.base_url))
        return JSONResponse({"downloadUrl": url, "status": status})

    @router.post("/logs3/overflow")
    async def overflow_upload(request: Request, principal: Caller, blobs: Blobs) -> Response:
        doc = await json_body(request)
        size = doc.get("size_bytes")
        if not isinstance(size, int) or size < 0:
            raise ServiceError(400, "'size_bytes' must be a non-negative integer", field="size_bytes")
        if size > max_bytes:
            raise ServiceError(
                413,
                f"overflow payload of {size} bytes exceeds the limit of {max_bytes} bytes",
                limit=max_bytes,
            )
        key = f"{principal.org_id}/overflow/{uuid.uuid4()}"
        url, headers = blobs.upload_url(
            key, str(request.base_url), str(doc.get("content_type") or "application/json")
        )
        return JSONResponse({"method": "PUT", "signedUrl": url, "headers": headers, "key": key})

    @router.api_route("/blob/{token}", methods=["PUT", "POST"])
    async def blob_put(token: str, request: Request, blobs: Blobs, signer: Signer) -> Response:
        t = signer.verify(token, request.method)
        data = await read_body(request, max_bytes)
        ctype = request.headers.get("content-type", "")
        if request.method == "POST" and ctype.startswith("multipart/form-data"):
            data = _multipart_file(ctype, data)
        await blobs.put(t.key, data, ctype or "application/octet-stream")
        return Response(status_code=200)

    @router.get("/blob/{token}")
    async def blob_get(token: str, blobs: Blobs, signer: Signer) -> Response:
        t = signer.verify(token, "GET")
        return Response(await blobs.get(t.key), media_type="application/octet-stream")

    return router


def _multipart_file(ctype: str, body: bytes) -> bytes:
    """The `file` field of a multipart upload (the SDK's POST form variant)."""
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    for part in msg.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    raise ServiceError(400, "multipart upload without a 'file' field", field="file")
