"""Attachments (`/attachment*`), the `/logs3/overflow` upload handshake, and `/blob/{token}`.

`/blob/{token}` is the one unauthenticated path of ingest: the signed token authorises exactly
one key and method until it expires.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from loopline.common.auth import Principal, current_principal
from loopline.common.http import JSONResponse, error_body
from loopline.common.service import ServiceContext
from loopline.ingest.blobs import BlobError, BlobStore, UrlSigner, check_key
from loopline.ingest.body import IngestError, parse_json, read_body
from loopline.ingest.routes import error_response


def _blob_error(exc: BlobError) -> Response:
    return JSONResponse(error_body(exc.status, exc.message), status_code=exc.status)


def attachment_key(org_id: str, key: str) -> str:
    return f"{org_id}/attachments/{check_key(key)}"


def build_blob_router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter()
    max_bytes = ctx.settings.max_request_bytes

    def blobs() -> BlobStore:
        return ctx.shared["blobs"]

    def signer() -> UrlSigner:
        return ctx.shared["blob_signer"]

    async def json_body(request: Request) -> dict[str, Any]:
        doc = parse_json(await read_body(request, 1024 * 1024))
        if not isinstance(doc, dict):
            raise IngestError(400, "body must be a JSON object")
        return doc

    def str_field(doc: dict[str, Any], name: str) -> str:
        v = doc.get(name)
        if not isinstance(v, str) or not v:
            raise IngestError(400, f"'{name}' must be a non-empty string", field=name)
        return v

    @router.post("/attachment")
    async def attachment_upload(
        request: Request, principal: Principal = Depends(current_principal)
    ) -> Response:
        try:
            doc = await json_body(request)
            key = attachment_key(principal.org_id, str_field(doc, "key"))
            content_type = doc.get("content_type") or "application/octet-stream"
            url, headers = blobs().upload_url(key, str(request.base_url), str(content_type))
        except IngestError as exc:
            return error_response(exc)
        except BlobError as exc:
            return _blob_error(exc)
        return JSONResponse({"signedUrl": url, "headers": headers})

    @router.post("/attachment/status")
    async def attachment_status(
        request: Request, principal: Principal = Depends(current_principal)
    ) -> Response:
        try:
            doc = await json_body(request)
            key = attachment_key(principal.org_id, str_field(doc, "key"))
            status = doc.get("status")
            if not isinstance(status, dict) or status.get("upload_status") not in (
                "uploading",
                "done",
                "error",
            ):
                raise IngestError(
                    400, "'status.upload_status' must be one of uploading, done, error", field="status"
                )
            import orjson

            await blobs().put(key + ".status", orjson.dumps(status), "application/json")
        except IngestError as exc:
            return error_response(exc)
        except BlobError as exc:
            return _blob_error(exc)
        return JSONResponse({})

    @router.get("/attachment")
    async def attachment_download(
        request: Request, key: str = "", principal: Principal = Depends(current_principal)
    ) -> Response:
        try:
            if not key:
                raise IngestError(400, "query parameter 'key' is required", field="key")
            full = attachment_key(principal.org_id, key)
            if not await blobs().exists(full):
                raise BlobError(404, f"no attachment with key {key!r}")
            import orjson

            try:
                status = orjson.loads(await blobs().get(full + ".status"))
            except BlobError:
                status = {"upload_status": "done"}
            url = blobs().download_url(full, str(request.base_url))
        except IngestError as exc:
            return error_response(exc)
        except BlobError as exc:
            return _blob_error(exc)
        return JSONResponse({"downloadUrl": url, "status": status})

    @router.post("/logs3/overflow")
    async def overflow_upload(
        request: Request, principal: Principal = Depends(current_principal)
    ) -> Response:
        try:
            doc = await json_body(request)
            size = doc.get("size_bytes")
            if not isinstance(size, int) or size < 0:
                raise IngestError(400, "'size_bytes' must be a non-negative integer", field="size_bytes")
            if size > max_bytes:
                raise IngestError(
                    413,
                    f"overflow payload of {size} bytes exceeds the limit of {max_bytes} bytes",
                    limit=max_bytes,
                )
            key = f"{principal.org_id}/overflow/{uuid.uuid4()}"
            url, headers = blobs().upload_url(
                key, str(request.base_url), str(doc.get("content_type") or "application/json")
            )
        except IngestError as exc:
            return error_response(exc)
        return JSONResponse({"method": "PUT", "signedUrl": url, "headers": headers, "key": key})

    @router.api_route("/blob/{token}", methods=["PUT", "POST"])
    async def blob_put(token: str, request: Request) -> Response:
        try:
            t = signer().verify(token, request.method)
            data = await read_body(request, max_bytes)
            ctype = request.headers.get("content-type", "")
            if request.method == "POST" and ctype.startswith("multipart/form-data"):
                form = await _multipart_file(request, data)
                data = form
            await blobs().put(t.key, data, ctype or "application/octet-stream")
        except IngestError as exc:
            return error_response(exc)
        except BlobError as exc:
            return _blob_error(exc)
        return Response(status_code=200)

    @router.get("/blob/{token}")
    async def blob_get(token: str) -> Response:
        try:
            t = signer().verify(token, "GET")
            data = await blobs().get(t.key)
        except BlobError as exc:
            return _blob_error(exc)
        return Response(data, media_type="application/octet-stream")

    return router


async def _multipart_file(request: Request, body: bytes) -> bytes:
    """The `file` field of a multipart upload (the SDK's POST form variant)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    ctype = request.headers.get("content-type", "")
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    for part in msg.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    raise IngestError(400, "multipart upload without a 'file' field", field="file")
