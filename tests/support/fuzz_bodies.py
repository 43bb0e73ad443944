"""Seeded generators of hostile write requests: `/logs3` and REST insert bodies, and OTLP/HTTP
trace exports (protobuf and JSON, gzip, cut short), with the row ids each request carries so the
ledger can check what happened to them afterwards."""

from __future__ import annotations

import gzip
import random
import zlib
from dataclasses import dataclass, field
from typing import Any

from tests.support.fuzz_client import Case
from tests.support.fuzz_json import (
    HUGE_NUMBERS,
    ODD_STRINGS,
    Nest,
    Raw,
    dotted_key,
    encode,
    odd_key,
    odd_value,
)

#: (object type, object id) → the fields a row needs to target it.
Obj = tuple[str, str]


def target_fields(obj: Obj, project_id: str) -> dict[str, Any]:
    kind, oid = obj
    if kind == "project_logs":
        return {"project_id": oid, "log_id": "g"}
    if kind == "experiment":
        return {"experiment_id": oid, "project_id": project_id}
    return {"dataset_id": oid, "project_id": project_id}


DATA_FIELDS = [
    "input",
    "output",
    "expected",
    "error",
    "metadata",
    "metrics",
    "scores",
    "tags",
    "span_attributes",
    "context",
    "origin",
    "comment",
    "created",
    "span_parents",
    "root_span_id",
    "span_id",
]
CONTROL_FIELDS = [
    "_is_merge",
    "_merge_paths",
    "_array_delete",
    "_parent_id",
    "_audit_source",
    "_audit_metadata",
]


@dataclass
class WriteCase:
    """A write request plus the ids of its rows (`tracked`: False when the outcome of the rows
    cannot be predicted, e.g. a row that deletes, or ids the server assigns)."""

    case: Case
    obj: Obj
    ids: list[str] = field(default_factory=list)
    tracked: bool = True


def valid_row(rng: random.Random, rid: str, obj: Obj, project_id: str) -> dict[str, Any]:
    row: dict[str, Any] = {"id": rid, **target_fields(obj, project_id)}
    row["input"] = {"q": f"question {rng.randrange(1000)}"}
    row["output"] = rng.choice(["answer", {"text": "a"}, [1, 2], None])
    if obj[0] == "experiment":
        row["scores"] = {"acc": rng.random()}
        row["metrics"] = {"tokens": rng.randrange(1000)}
    row["metadata"] = {"model": rng.choice(["gpt", "claude"]), "i": rng.randrange(100)}
    return row


def hostile_row(
    rng: random.Random, rid: str, obj: Obj, project_id: str, mutations: int = 1
) -> tuple[dict[str, Any], bool]:
    """(row, trackable): a valid row with 1..`mutations` hostile changes."""
    row = valid_row(rng, rid, obj, project_id)
    trackable = True
    for _ in range(rng.randrange(1, mutations + 1)):
        kind = rng.randrange(14)
        if kind <= 3:
            row[rng.choice(DATA_FIELDS)] = odd_value(rng)
        elif kind == 4:
            row["metadata"] = {odd_key(rng): odd_value(rng), "ok": 1}
        elif kind == 5:
            row[rng.choice(["metadata", "span_attributes", "input", "output"])] = {"a.b": 1, "a": {"b": 2}}
        elif kind == 6:
            row["metrics"] = {rng.choice(["tokens", "start", "end", "x"]): rng.choice(HUGE_NUMBERS)}
        elif kind == 7:
            row["scores"] = {
                odd_key(rng) if rng.random() < 0.3 else "s": rng.choice([*HUGE_NUMBERS, "0.5", -1, 2])
            }
        elif kind == 8:
            row[rng.choice(CONTROL_FIELDS)] = odd_value(rng)
        elif kind == 9:
            row[odd_key(rng)] = odd_value(rng)  # an unknown top-level field
        elif kind == 10:
            row["tags"] = rng.choice([["a", "a"], [1], "tag", [None], [Nest(300)], ["x" * 70_000]])
        elif kind == 11:
            row["span_attributes"] = {"type": rng.choice(["llm", 1, None, "\x00", {}]), dotted_key(rng): 1}
        elif kind == 12:
            row["created"] = rng.choice(
                ["", "not a date", "9999-12-31T23:59:59Z", "0000-01-01", 1e300, -1, "2024-02-30T00:00:00Z"]
            )
        else:
            row["_object_delete"] = rng.choice([True, "yes", 1, None])
            trackable = False
    return row, trackable


def _rows(
    rng: random.Random, n: int, obj: Obj, project_id: str, prefix: str
) -> tuple[list[Any], list[str], bool]:
    """1-5 rows: usually one hostile row with one mutation among valid ones (so a single odd
    value reaches the writer), sometimes several hostile rows with several mutations."""
    count = rng.randrange(1, 6)
    hostile = (
        {rng.randrange(count)}
        if rng.random() < 0.7
        else set(rng.sample(range(count), rng.randrange(count + 1)))
    )
    rows: list[Any] = []
    ids: list[str] = []
    tracked = True
    for j in range(count):
        rid = f"{prefix}-{n}-{j}"
        ids.append(rid)
        if j in hostile:
            row, ok = hostile_row(rng, rid, obj, project_id, mutations=1 if len(hostile) == 1 else 3)
            tracked &= ok
        else:
            row = valid_row(rng, rid, obj, project_id)
        rows.append(row)
    return rows, ids, tracked


def logs3_case(rng: random.Random, n: int, obj: Obj, project_id: str, prefix: str) -> WriteCase:
    """A `/logs3` request; sometimes the whole body is made hostile."""
    rows, ids, tracked = _rows(rng, n, obj, project_id, prefix)
    case = Case("logs3", "POST", "/logs3", {"rows": rows})
    _envelope_mutation(rng, case, "rows")
    return WriteCase(case, obj, ids, tracked)


def insert_case(rng: random.Random, n: int, obj: Obj, project_id: str, prefix: str) -> WriteCase:
    """`POST /v1/{type}/{id}/insert` with `events` (object fields come from the path)."""
    events, ids, tracked = _rows(rng, n, obj, project_id, prefix)
    for ev in events:
        for k in ("project_id", "experiment_id", "dataset_id", "log_id"):
            if rng.random() < 0.8:
                ev.pop(k, None)
    case = Case("insert", "POST", f"/v1/{obj[0]}/{obj[1]}/insert", {"events": events})
    _envelope_mutation(rng, case, "events")
    return WriteCase(case, obj, ids, tracked)


_CONTENT_TYPES = [
    "text/plain",
    "application/x-protobuf",
    "multipart/form-data; boundary=x",
    "application/json; charset=latin-1",
    "application/json; charset=\u00ff",
    "",
    "*/*",
    "application/x-www-form-urlencoded",
]


def _envelope_mutation(rng: random.Random, case: Case, key: str) -> None:
    """With probability 0.25, make the request itself hostile (body, encoding, type)."""
    if rng.random() > 0.25:
        return
    tree = case.tree
    kind = rng.randrange(16)
    if kind == 0:
        data = encode(tree)
        case.raw = data[: rng.randrange(1, max(2, len(data)))]  # cut short
    elif kind == 1:
        case.tree = {key: rng.choice([{}, "rows", 1, None, True, Raw(b"1e309"), Nest(1100)])}
    elif kind == 2:
        case.tree = tree[key] if rng.random() < 0.5 else [tree]  # an array body
    elif kind == 3:
        case.raw = rng.choice([b"", b" ", b"\xef\xbb\xbf{}", b"{", b"}", b"null", b"[]", b"{,}", b"NaN"])
    elif kind == 4:
        case.tree = Nest(rng.choice([1023, 1024, 1025, 5000]), tree, "list")
    elif kind == 5:
        case.tree = {**tree, key: tree[key], Raw(b'"' + key.encode() + b'"'): []}  # duplicate key
    elif kind == 6:
        case.gzip_body = True
    elif kind == 7:
        data = gzip.compress(encode(tree), mtime=0)
        case.raw = data[: rng.randrange(1, len(data))]
        case.headers["Content-Encoding"] = "gzip"
    elif kind == 8:
        case.raw = encode(tree)
        case.headers["Content-Encoding"] = rng.choice(
            ["br", "zstd", "gzip, gzip", "x\u00e9", "deflate", "GZIP"]
        )
    elif kind == 9:
        case.raw = zlib.compress(encode(tree))
        case.headers["Content-Encoding"] = rng.choice(["deflate", "gzip"])
    elif kind == 10:
        case.headers["Content-Type"] = rng.choice(_CONTENT_TYPES)
    elif kind == 11:
        case.raw = encode(tree).replace(b'"', b"'", 2)
    elif kind == 12:
        case.raw = encode(tree) + rng.choice([b"garbage", b"\x00", b",", b"}", b"\n\n{}"])
    elif kind == 13:
        case.raw = gzip.compress(gzip.compress(encode(tree), mtime=0), mtime=0)  # gzip bomb-ish: double gzip
        case.headers["Content-Encoding"] = "gzip"
    elif kind == 14:
        case.tree = {key: tree[key], "extra": odd_value(rng)}
    else:
        case.raw = encode(tree).decode("utf-8", "replace").encode("utf-16")


def many_rows_case(n: int, obj: Obj, project_id: str, prefix: str, count: int = 2000) -> WriteCase:
    rows = [{"id": f"{prefix}-{n}-{j}", **target_fields(obj, project_id), "input": j} for j in range(count)]
    return WriteCase(Case("logs3-many", "POST", "/logs3", {"rows": rows}), obj, [r["id"] for r in rows])


# -- OTLP ---------------------------------------------------------------------------------------


@dataclass
class OtlpCase:
    case: Case
    span_ids: list[str]
    tracked: bool = True
    protobuf: bool = True


def _attr_value(rng: random.Random) -> Any:
    """A Python value for an OTLP attribute (mapped to AnyValue by `_pb_any`/`_json_any`)."""
    return rng.choice(
        [
            "text",
            rng.choice(ODD_STRINGS[:8]),
            2**63 - 1,
            -(2**63),
            1.5,
            float("inf"),
            float("nan"),
            True,
            b"\x00\xff",
            ["a", 1, None],
            {"k": {"k2": [1, {"k3": "v"}]}},
            '{"a.b": 1, "a": {"b": 2}}',
            "[" * 300 + "]" * 300,
            '{"nested": ' * 300 + "1" + "}" * 300,
        ]
    )


def _attr_key(rng: random.Random) -> str:
    return rng.choice(
        [
            "gen_ai.prompt",
            "braintrust.input",
            "braintrust.metadata",
            "braintrust.metrics",
            "braintrust.scores",
            "braintrust.span_attributes",
            "gen_ai.usage.input_tokens",
            "llm.input_messages.0.message.content",
            "a.b",
            "a",
            "",
            ".",
            dotted_key(rng),
            "k" * 5000,
            "\x00",
            "🤖",
        ]
    )


def _pb_any(v: Any, av: Any) -> None:
    if isinstance(v, bool):
        av.bool_value = v
    elif isinstance(v, int):
        av.int_value = v
    elif isinstance(v, float):
        av.double_value = v
    elif isinstance(v, bytes):
        av.bytes_value = v
    elif isinstance(v, str):
        av.string_value = _pb_text(v)
    elif isinstance(v, list):
        for x in v:
            _pb_any(x, av.array_value.values.add())
    elif isinstance(v, dict):
        for k, x in v.items():
            kv = av.kvlist_value.values.add()
            kv.key = _pb_text(k)
            _pb_any(x, kv.value)


def _pb_text(s: str) -> str:
    """Protobuf strings are UTF-8: a lone surrogate cannot be set (the JSON form sends it)."""
    return s.encode("utf-8", "replace").decode()


def _json_any(v: Any) -> Any:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, bytes):
        return {"bytesValue": "AP8="}
    if isinstance(v, str):
        return {"stringValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [_json_any(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": _json_any(x)} for k, x in v.items()]}}
    return {}


def _span_plan(rng: random.Random, n: int, prefix_hex: str) -> list[dict[str, Any]]:
    trace = f"{prefix_hex}{n:08x}".rjust(32, "0")[-32:]
    spans = []
    for j in range(rng.randrange(1, 5)):
        sid = f"{prefix_hex[:2]}{n:06x}{j:04x}{rng.randrange(1, 65535):04x}"
        attrs = {"gen_ai.system": "openai"}
        for _ in range(rng.randrange(0, 4)):
            attrs[_attr_key(rng)] = _attr_value(rng)
        spans.append(
            {
                "trace": trace,
                "span": sid,
                "parent": spans[0]["span"] if spans and rng.random() < 0.5 else "",
                "name": rng.choice(["chat", "", "x" * 5000, "\x00"]),
                "start": 1_700_000_000_000_000_000 + n,
                "end": 1_700_000_001_000_000_000 + n,
                "status": rng.choice([0, 1, 2]),
                "attrs": attrs,
                "events": rng.random() < 0.3,
            }
        )
    return spans


def otlp_protobuf_case(
    rng: random.Random, n: int, parent: str, prefix_hex: str, mutate: bool = True
) -> OtlpCase:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    plan = _span_plan(rng, n, prefix_hex)
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "fuzz"
    ss = rs.scope_spans.add()
    for p in plan:
        sp = ss.spans.add()
        sp.trace_id = bytes.fromhex(p["trace"])
        sp.span_id = bytes.fromhex(p["span"])
        if p["parent"]:
            sp.parent_span_id = bytes.fromhex(p["parent"])
        sp.name = _pb_text(p["name"])
        sp.start_time_unix_nano = p["start"]
        sp.end_time_unix_nano = p["end"]
        sp.status.code = p["status"]
        for k, v in p["attrs"].items():
            a = sp.attributes.add()
            a.key = _pb_text(k)
            _pb_any(v, a.value)
        if p["events"]:
            ev = sp.events.add()
            ev.name = "gen_ai.user.message"
            ev.time_unix_nano = p["start"]
            a = ev.attributes.add()
            a.key, a.value.string_value = "content", "hi"
    data = req.SerializeToString()
    headers = {"Content-Type": "application/x-protobuf", "x-bt-parent": parent}
    case = Case("otlp-pb", "POST", "/otel/v1/traces", raw=data, headers=headers)
    tracked = True
    kind = rng.randrange(10) if mutate else -1
    if kind == 0:
        case.raw = data[: rng.randrange(1, max(2, len(data)))]  # truncated protobuf
        tracked = False
    elif kind == 1:
        case.raw = gzip.compress(data, mtime=0)
        case.headers["Content-Encoding"] = "gzip"
    elif kind == 2:
        gz = gzip.compress(data, mtime=0)
        case.raw = gz[: rng.randrange(1, len(gz))]
        case.headers["Content-Encoding"] = "gzip"
        tracked = False
    elif kind == 3:
        case.raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))  # noise
        tracked = False
    elif kind == 4:
        flip = bytearray(data)
        for _ in range(3):
            i = rng.randrange(len(flip))
            flip[i] ^= 1 << rng.randrange(8)
        case.raw = bytes(flip)
        tracked = False
    elif kind == 5:
        case.headers["Content-Type"] = rng.choice(
            ["application/json", "text/plain", "", "application/protobuf"]
        )
        tracked = False
    return OtlpCase(case, [p["span"] for p in plan], tracked, True)


def otlp_json_case(rng: random.Random, n: int, parent: str, prefix_hex: str) -> OtlpCase:
    plan = _span_plan(rng, n, prefix_hex)
    spans: list[Any] = []
    for p in plan:
        sp: dict[str, Any] = {
            "traceId": p["trace"],
            "spanId": p["span"],
            "name": p["name"],
            "kind": 1,
            "startTimeUnixNano": str(p["start"]),
            "endTimeUnixNano": str(p["end"]),
            "attributes": [{"key": k, "value": _json_any(v)} for k, v in p["attrs"].items()],
            "status": {"code": p["status"]},
        }
        if p["parent"]:
            sp["parentSpanId"] = p["parent"]
        if p["events"]:
            sp["events"] = [{"name": "e", "timeUnixNano": str(p["start"]), "attributes": []}]
        spans.append(sp)
    tracked = True
    for sp in spans:
        if rng.random() < 0.35:
            tracked = False  # a mutated span may be rejected (partial success) or the request refused
            key = rng.choice(
                [
                    "status",
                    "events",
                    "startTimeUnixNano",
                    "endTimeUnixNano",
                    "kind",
                    "attributes",
                    "traceId",
                    "spanId",
                    "parentSpanId",
                    "links",
                    "droppedAttributesCount",
                ]
            )
            sp[key] = rng.choice(
                [
                    -1,
                    1,
                    1e300,
                    Raw(b"1e309"),
                    "STATUS_CODE_ERROR",
                    "nope",
                    {"code": -1},
                    {"code": 2**64},
                    {"code": "STATUS_CODE_NOPE"},
                    [1],
                    [{"key": 1}],
                    [{"key": "k", "value": {"intValue": "9" * 40}}],
                    [{"key": "k", "value": {"doubleValue": "x"}}],
                    [{"key": "k", "value": Nest(300, {}, "dict")}],
                    None,
                    "",
                    "zz" * 8,
                    "AAAAAAAAAAAAAAAAAAAAAA==",
                    2**64,
                    -(2**63),
                    {},
                ]
            )
    body: Any = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "fuzz"}}]},
                "scopeSpans": [{"scope": {"name": "fuzz"}, "spans": spans}],
            }
        ]
    }
    case = Case("otlp-json", "POST", "/otel/v1/traces", body, headers={"Content-Type": "application/json"})
    case.headers["x-bt-parent"] = parent
    if rng.random() < 0.3:
        tracked = False
        kind = rng.randrange(6)
        if kind == 0:
            case.tree = rng.choice(
                [[], {"resourceSpans": {}}, {"resourceSpans": [1]}, {"resource_spans": [[]]}]
            )
        elif kind == 1:
            data = encode(body)
            case.raw = data[: rng.randrange(1, len(data))]
        elif kind == 2:
            case.tree = {
                "resourceSpans": [{"scopeSpans": [{"spans": [Nest(rng.choice([300, 1100]), {}, "dict")]}]}]
            }
        elif kind == 3:
            case.gzip_body = True
            tracked = True
        elif kind == 4:
            data = gzip.compress(encode(body), mtime=0)
            case.raw = data[: rng.randrange(1, len(data))]
            case.headers["Content-Encoding"] = "gzip"
        else:
            case.raw = encode(body)
            case.headers["Content-Type"] = "application/x-protobuf"
    return OtlpCase(case, [p["span"] for p in plan], tracked, False)


HOSTILE_PARENTS = [
    "",
    ":",
    "project_id:",
    "project_name:",
    "project_name:" + "p" * 1025,
    "project_name:" + "p" * 5000,
    "project_id:" + "x" * 5000,
    "experiment_id:00000000-0000-0000-0000-000000000000",
    "project_id:not-a-uuid",
    "project_name:\u00e9\u00e8",
    "dataset_id:x",
    "project_id:a:b:c",
    "project_name:\u00ff\u00fe",
]
