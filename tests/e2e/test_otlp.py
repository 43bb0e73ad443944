"""OTLP/HTTP ingestion with the real OpenTelemetry exporter and Braintrust's span processor."""

from __future__ import annotations

import uuid

import httpx
import orjson
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.e2e.conftest import Api
from tests.support.running import RunningLoopline


def _spans(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("e2e")
    with tracer.start_as_current_span("agent-run") as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        with tracer.start_as_current_span("chat gpt-4o-mini") as llm:
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            llm.set_attribute("gen_ai.usage.input_tokens", 12)
            llm.set_attribute("gen_ai.usage.output_tokens", 34)
            llm.set_attribute(
                "gen_ai.input.messages",
                orjson.dumps([{"role": "user", "parts": [{"type": "text", "content": "hello?"}]}]).decode(),
            )
            llm.set_attribute(
                "gen_ai.output.messages",
                orjson.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "hi!"}]}]).decode(),
            )
    provider.force_flush()


def _check(rows: list[dict]) -> None:  # type: ignore[type-arg]
    by_name = {r["span_attributes"]["name"]: r for r in rows}
    root, llm = by_name["agent-run"], by_name["chat gpt-4o-mini"]
    assert root["span_parents"] is None and llm["span_parents"] == [root["span_id"]]
    assert llm["root_span_id"] == root["root_span_id"] and len(root["root_span_id"]) == 32
    assert llm["span_attributes"]["type"] == "llm"
    assert llm["metrics"]["prompt_tokens"] == 12 and llm["metrics"]["completion_tokens"] == 34
    assert llm["metadata"]["model"] == "gpt-4o-mini"
    assert "hello?" in orjson.dumps(llm["input"]).decode() and "hi!" in orjson.dumps(llm["output"]).decode()
    assert llm["metrics"]["end"] >= llm["metrics"]["start"]


def test_otlp_protobuf_exporter(server: RunningLoopline, api: Api) -> None:
    pid = api.project_id(f"otel-{uuid.uuid4().hex[:8]}")
    exporter = OTLPSpanExporter(
        endpoint=f"{server.url}/otel/v1/traces",
        headers={"Authorization": f"Bearer {server.api_key}", "x-bt-parent": f"project_id:{pid}"},
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _spans(provider)
    provider.shutdown()
    _check(api.fetch("project_logs", pid))


def test_braintrust_span_processor_by_project_name(server: RunningLoopline, api: Api) -> None:
    from braintrust.otel import BraintrustSpanProcessor

    name = f"otel-bt-{uuid.uuid4().hex[:8]}"
    provider = TracerProvider()
    processor = BraintrustSpanProcessor(
        api_key=server.api_key, api_url=server.url, parent=f"project_name:{name}"
    )
    provider.add_span_processor(processor)
    _spans(provider)
    provider.shutdown()
    _check(api.fetch("project_logs", api.project_id(name)))


def test_otlp_json_answered_in_json_with_partial_success(server: RunningLoopline, api: Api) -> None:
    pid = api.project_id(f"otel-json-{uuid.uuid4().hex[:8]}")
    trace = uuid.uuid4().hex
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace,
                                "spanId": "a1b2c3d4e5f60718",
                                "name": "json-span",
                                "kind": 3,
                                "startTimeUnixNano": "1795337921000000000",
                                "endTimeUnixNano": "1795337922000000000",
                                "attributes": [
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "m1"}}
                                ],
                            },
                            {
                                "traceId": trace,
                                "spanId": "a1b2c3d4e5f60719",
                                "name": "bad-parent",
                                "attributes": [
                                    {"key": "braintrust.parent", "value": {"stringValue": "nonsense"}}
                                ],
                            },
                        ]
                    }
                ],
            }
        ]
    }
    r = httpx.post(
        f"{server.url}/otel/v1/traces",
        content=orjson.dumps(body),
        headers={**server.headers, "Content-Type": "application/json", "x-bt-parent": f"project_id:{pid}"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.json()["partialSuccess"]["rejectedSpans"] == 1
    rows = api.fetch("project_logs", pid)
    assert [x["span_attributes"]["name"] for x in rows] == ["json-span"]
    bad = httpx.post(
        f"{server.url}/otel/v1/traces",
        content=b"nope",
        headers={**server.headers, "Content-Type": "text/plain"},
    )
    assert bad.status_code == 415
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "zz"
    malformed = httpx.post(
        f"{server.url}/otel/v1/traces",
        content=orjson.dumps(body),
        headers={**server.headers, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400 and "traceId" in malformed.json()["error"]["message"]
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = trace
    other = httpx.post(
        f"{server.url}/otel/v1/traces",
        content=orjson.dumps(body),
        headers={**server.headers, "Content-Type": "application/json", "x-bt-parent": "project_id:not-mine"},
    )
    assert other.status_code == 200 and other.json()["partialSuccess"]["rejectedSpans"] == 2
