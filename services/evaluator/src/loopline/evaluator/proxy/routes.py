"""`/v1/proxy/*`: the OpenAI-compatible model gateway (spec §7). Point an OpenAI client, or
autoevals through `OPENAI_BASE_URL` / `BRAINTRUST_AI_GATEWAY_URL`, at `<loopline>/v1/proxy` with a
Loopline API key; the org's AI secrets decide which provider serves each model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from loopline.common.errors import ServiceError
from loopline.common.http import error_body
from loopline.common.logging import get_logger
from loopline.evaluator.deps import Caller, Gateway
from loopline.evaluator.proxy.cache import Op
from loopline.evaluator.proxy.engine import ProxyAnswer, validate
from loopline.providers import ProviderError

log = get_logger(__name__)

SERVED = ("/chat/completions", "/embeddings", "/moderations", "/auto", "/models")


def _auth_token(request: Request, caller_key_id: str) -> str:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-bt-api-key") or request.headers.get("x-api-key") or caller_key_id


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ServiceError(400, f"the body is not valid JSON: {exc}") from exc


async def _sse(chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
    except ProviderError as exc:  # after the first chunk the status is sent: report in-stream
        log.warning("provider failed mid-stream", error=str(exc))
        yield b"data: " + orjson.dumps(error_body(exc.http_status(), str(exc), type=exc.kind)) + b"\n\n"
        return
    yield b"data: [DONE]\n\n"


def _respond(answer: ProxyAnswer) -> Response:
    if answer.chunks is not None:
        return StreamingResponse(
            _sse(answer.chunks),
            media_type="text/event-stream",
            headers={**answer.headers, "cache-control": answer.headers.get("cache-control", "no-cache")},
        )
    return Response(orjson.dumps(answer.body), media_type="application/json", headers=answer.headers)


def build_proxy_router() -> APIRouter:
    r = APIRouter(tags=["proxy"])

    async def run(op: Op, raw: Any, request: Request, caller: Caller, gateway: Gateway) -> Response:
        body = validate(op, raw)
        org_name = request.headers.get("x-bt-org-name")
        if org_name and caller.org_name and org_name != caller.org_name:
            raise ServiceError(
                403, f"this API key belongs to organization {caller.org_name!r}, not {org_name!r}"
            )
        answer = await gateway.answer(
            caller.org_id,
            op,
            request.url.path,
            body,
            {k.lower(): v for k, v in request.headers.items()},
            _auth_token(request, caller.api_key_id),
        )
        return _respond(answer)

    @r.post("/v1/proxy/chat/completions")
    async def chat(request: Request, caller: Caller, gateway: Gateway) -> Response:
        return await run("chat", await _json_body(request), request, caller, gateway)

    @r.post("/v1/proxy/embeddings")
    async def embeddings(request: Request, caller: Caller, gateway: Gateway) -> Response:
        return await run("embeddings", await _json_body(request), request, caller, gateway)

    @r.post("/v1/proxy/moderations")
    async def moderations(request: Request, caller: Caller, gateway: Gateway) -> Response:
        return await run("moderations", await _json_body(request), request, caller, gateway)

    @r.post("/v1/proxy/auto")
    async def auto(request: Request, caller: Caller, gateway: Gateway) -> Response:
        """Chat when the body has `messages`, else embeddings (Braintrust's `/auto`)."""
        body = await _json_body(request)
        op: Op = "chat" if isinstance(body, dict) and "messages" in body else "embeddings"
        return await run(op, body, request, caller, gateway)

    @r.get("/v1/proxy/models")
    async def models(caller: Caller, gateway: Gateway) -> dict[str, Any]:
        """The models the org's providers list (providers serving whole families say so), each
        with the AI secret that serves it (`owned_by`) and that secret's type (`provider`)."""
        client, _ = await gateway.models.client(caller.org_id)
        types = await gateway.models.provider_types(caller.org_id)
        data = []
        for p in client.providers:
            names = p.models or tuple(f"{f}*" for f in ("gpt-", "claude-") if p.serves(f"{f}x"))
            kind = types.get(p.name, p.kind)
            data += [
                {"id": m, "object": "model", "created": 0, "owned_by": p.name, "provider": kind}
                for m in names
            ]
        return {"object": "list", "data": data}

    @r.api_route("/v1/proxy/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unsupported(rest: str, caller: Caller) -> Response:
        raise ServiceError(
            404,
            f"/v1/proxy/{rest} is not served by Loopline's model gateway; it serves "
            + ", ".join("/v1/proxy" + s for s in SERVED),
        )

    return r
