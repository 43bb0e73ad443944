"""Valid load: SDK-shaped `/logs3` batches, REST inserts, merges, deletes and OTLP spans.

Each builder returns the request to send and what the model learns if it is acknowledged.
"""

from __future__ import annotations

import gzip
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.soak.model import RowState, SoakObject

BUCKETS = [f"b{i}" for i in range(8)]
NOMATCH = "soak-nomatch"  # no row ever has this bucket


@dataclass
class Write:
    """One valid write: the HTTP request and how to apply its acknowledgement to the model."""

    kind: str
    method: str
    path: str
    body: bytes
    headers: dict[str, str]
    ids: list[str]  # ids the write touches (uncertain if its outcome is unknown)
    apply: Callable[[], None]  # called with the object's lock held, after a 200
    check_response: Callable[[httpx.Response], str | None] = field(default=lambda _: None)


class IdSource:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return f"{self.run_id}-{self.n}"


def _text(rng: random.Random, lo: int, hi: int) -> str:
    n = rng.randint(lo, hi)
    return "".join(rng.choices(string.ascii_letters + string.digits + " äö€🙂", k=n))


def _row(rng: random.Random, obj: SoakObject, rid: str, big: int = 0) -> tuple[dict[str, Any], RowState]:
    bucket = rng.choice(BUCKETS)
    n = rng.randint(0, 1000)
    row: dict[str, Any] = {
        "id": rid,
        **obj.parent_fields(),
        "input": {"question": _text(rng, 5, 200), "blob": "x" * big}
        if big
        else {"question": _text(rng, 5, 400)},
        "metadata": {"bucket": bucket, "n": n, "soak": True, "tags": rng.sample(BUCKETS, 2)},
    }
    score = None
    if obj.object_type == "dataset":
        row["expected"] = _text(rng, 1, 50)
    else:
        row["output"] = _text(rng, 1, 300)
        score = round(rng.random(), 6)
        row["scores"] = {"q": score}
        row["metrics"] = {"tokens": rng.randint(1, 5000)}
    return row, RowState(bucket=bucket, n=n, score=score)


def _ack_row_ids(expected: list[str]) -> Callable[[Any], str | None]:
    def check(resp: httpx.Response) -> str | None:
        doc = resp.json()
        got = doc.get("row_ids") if isinstance(doc, dict) else None
        if got != expected:
            return f"row_ids {str(got)[:200]} != the ids sent {str(expected)[:200]}"
        return None

    return check


def logs3_insert(rng: random.Random, obj: SoakObject, ids: IdSource, *, big: bool = False) -> Write:
    count = rng.randint(1, 3) if big else rng.randint(1, 40)
    blob = rng.randint(512 * 1024, 3 * 1024 * 1024) if big else 0
    rows, states = [], {}
    for _ in range(count):
        rid = ids.next()
        row, st = _row(rng, obj, rid, blob)
        rows.append(row)
        states[rid] = st

    def apply() -> None:
        obj.rows.update(states)

    body = orjson.dumps({"rows": rows, "api_version": 2})
    headers = {"Content-Type": "application/json"}
    if rng.random() < 0.2:
        body, headers = gzip.compress(body, compresslevel=1), {**headers, "Content-Encoding": "gzip"}
    return Write(
        "logs3_big" if big else "logs3",
        "POST",
        "/logs3",
        body,
        headers,
        list(states),
        apply,
        _ack_row_ids(list(states)),
    )


def rest_insert(rng: random.Random, obj: SoakObject, ids: IdSource) -> Write:
    rows, states = [], {}
    for _ in range(rng.randint(1, 10)):
        rid = ids.next()
        row, st = _row(rng, obj, rid)
        for k in ("project_id", "experiment_id", "dataset_id", "log_id"):
            row.pop(k, None)
        rows.append(row)
        states[rid] = st

    def apply() -> None:
        obj.rows.update(states)

    path = f"/v1/{obj.object_type}/{obj.object_id}/insert"
    return Write(
        "rest_insert",
        "POST",
        path,
        orjson.dumps({"events": rows}),
        {"Content-Type": "application/json"},
        list(states),
        apply,
        _ack_row_ids(list(states)),
    )


def merge(rng: random.Random, obj: SoakObject) -> Write | None:
    cands = obj.mergeable()
    if not cands:
        return None
    targets = rng.sample(cands, min(len(cands), rng.randint(1, 5)))
    new = {t: rng.choice(BUCKETS) for t in targets}
    rows = [
        {"id": t, **obj.parent_fields(), "_is_merge": True, "metadata": {"bucket": b, "merged": True}}
        for t, b in new.items()
    ]

    def apply() -> None:
        for t, b in new.items():
            if t in obj.rows:
                obj.rows[t].bucket = b

    return Write(
        "merge",
        "POST",
        "/logs3",
        orjson.dumps({"rows": rows}),
        {"Content-Type": "application/json"},
        targets,
        apply,
    )


def delete(rng: random.Random, obj: SoakObject) -> Write | None:
    cands = sorted(obj.live_ids())
    if len(cands) < 20:
        return None
    targets = rng.sample(cands, rng.randint(1, 3))
    rows = [{"id": t, **obj.parent_fields(), "_object_delete": True} for t in targets]

    def apply() -> None:
        for t in targets:
            obj.rows.pop(t, None)

    return Write(
        "delete",
        "POST",
        "/logs3",
        orjson.dumps({"rows": rows}),
        {"Content-Type": "application/json"},
        targets,
        apply,
    )


def _span_ids(rng: random.Random, count: int) -> tuple[str, list[str]]:
    trace = f"{rng.getrandbits(128):032x}"
    return trace, [f"{rng.getrandbits(63) | 1:016x}" for _ in range(count)]


def otlp(rng: random.Random, obj: SoakObject, *, protobuf: bool) -> Write:
    """Spans of one trace (a root and children) into a project's logs, by the x-bt-parent header."""
    trace, span_ids = _span_ids(rng, rng.randint(1, 6))
    start = 1_795_337_921_000_000_000 + rng.randint(0, 10**12)
    spans_json, spans_pb = [], []
    for i, sid in enumerate(span_ids):
        attrs = {"gen_ai.request.model": rng.choice(["m1", "m2", "m3"]), "soak.i": str(i)}
        parent = span_ids[0] if i else ""
        spans_json.append(
            {
                "traceId": trace,
                "spanId": sid,
                **({"parentSpanId": parent} if parent else {}),
                "name": f"soak-span-{i}",
                "kind": 1,
                "startTimeUnixNano": str(start + i),
                "endTimeUnixNano": str(start + i + 1000),
                "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
            }
        )
        spans_pb.append(
            Span(
                trace_id=bytes.fromhex(trace),
                span_id=bytes.fromhex(sid),
                parent_span_id=bytes.fromhex(parent) if parent else b"",
                name=f"soak-span-{i}",
                kind=Span.SpanKind.SPAN_KIND_INTERNAL,
                start_time_unix_nano=start + i,
                end_time_unix_nano=start + i + 1000,
                attributes=[KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attrs.items()],
            )
        )
    headers = {"x-bt-parent": f"project_id:{obj.object_id}"}
    if protobuf:
        req = ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans_pb)])]
        )
        body = req.SerializeToString()
        headers["Content-Type"] = "application/x-protobuf"
    else:
        body = orjson.dumps(
            {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": spans_json}]}]}
        )
        headers["Content-Type"] = "application/json"

    def apply() -> None:
        for sid in span_ids:
            obj.rows[sid] = RowState(bucket=None, n=None, score=None, otlp=True)

    def check(resp: httpx.Response) -> str | None:
        if protobuf:
            ans = ExportTraceServiceResponse.FromString(resp.content)
            if ans.partial_success.rejected_spans:
                return f"valid spans were rejected: {ans.partial_success.error_message}"
            return None
        doc = resp.json()
        ps = doc.get("partialSuccess") if isinstance(doc, dict) else None
        if ps and int(ps.get("rejectedSpans") or 0):
            return f"valid spans were rejected: {ps}"
        return None

    return Write(
        "otlp_pb" if protobuf else "otlp_json",
        "POST",
        "/otel/v1/traces",
        body,
        headers,
        span_ids,
        apply,
        check,
    )
