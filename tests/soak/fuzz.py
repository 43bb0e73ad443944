"""Light fuzz: malformed and hostile requests that must each get a clear 4xx (never a 5xx).

Small generators of our own (the repo's full fuzz suite lives elsewhere). Rows that happen to be
accepted go to the fuzz project only, which the oracle does not model.
"""

from __future__ import annotations

import gzip
import random
from dataclasses import dataclass

import orjson

from tests.soak.model import SoakObject


@dataclass(frozen=True)
class FuzzRequest:
    kind: str
    method: str
    path: str
    body: bytes
    headers: dict[str, str]
    auth: bool = True


_BTQL_SEEDS = [
    "select: id | from: {ref} | filter: metadata.bucket = 'b1' | sort: id | limit: 10",
    "dimensions: metadata.bucket as b | measures: count(1) as n | from: {ref}",
    "select: id, input | from: {ref} traces | filter: metadata.n > 10 | limit: 5",
    "measures: count(1) as n, avg(scores.q) as q | from: {ref} | filter: metadata.n < 500",
    "select: * | from: {ref} | filter: input MATCH 'abc' | limit: 3",
    "SELECT count(*) AS n FROM {ref} WHERE metadata.bucket = 'b2'",
    "select: id | from: {ref} spans | filter: created > now() - interval 1 day | limit: 7",
]
_JUNK_TOKENS = [
    "|",
    ":",
    "'",
    '"',
    "(",
    ")",
    "select:",
    "from:",
    "filter:",
    "traces",
    "*",
    ",",
    "=",
    "and",
    "or",
    "not",
    "1e309",
    "-",
    "..",
    "\\",
    "\x00",
    "é",
    "🙂",
    "null",
    "[",
    "]",
]


def _mutate_text(rng: random.Random, s: str) -> str:
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        i = rng.randint(0, len(s))
        if op < 0.35 and s:
            j = min(len(s), i + rng.randint(1, 8))
            s = s[:i] + s[j:]
        elif op < 0.7:
            s = s[:i] + rng.choice(_JUNK_TOKENS) + s[i:]
        else:
            j = min(len(s), i + rng.randint(1, 12))
            s = s[:i] + s[i:j] * rng.randint(2, 5) + s[j:]
    return s


def btql(rng: random.Random, objects: list[SoakObject]) -> FuzzRequest:
    ref = rng.choice(objects).ref
    seed = rng.choice(_BTQL_SEEDS).replace("{ref}", ref)
    r = rng.random()
    if r < 0.6:
        q: object = _mutate_text(rng, seed)
    elif r < 0.7:
        q = "select: " + ", ".join(["id"] * rng.randint(50, 400)) + f" | from: {ref}"
    elif r < 0.8:
        q = {
            "select": rng.choice([None, 1, "x", [{"op": "nope"}], [{"op": "star"}]]),
            "from": rng.choice([ref, 3, {"op": "function"}]),
        }
    elif r < 0.9:
        q = "".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(1, 300)))
    else:
        q = seed + " | limit: " + rng.choice(["-1", "0", "1e20", "'x'", "99999999999999999999"])
    return FuzzRequest(
        "fuzz_btql", "POST", "/btql", orjson.dumps({"query": q}), {"Content-Type": "application/json"}
    )


def logs3(rng: random.Random, fuzz_project: str) -> FuzzRequest:
    good = {
        "rows": [
            {
                "id": f"fz{rng.getrandbits(40)}",
                "project_id": fuzz_project,
                "log_id": "g",
                "input": "x",
                "metadata": {"k": 1},
            }
        ]
    }
    body = orjson.dumps(good)
    headers = {"Content-Type": "application/json"}
    r = rng.random()
    if r < 0.2:
        body = body[: rng.randint(0, len(body) - 1)]
    elif r < 0.35:
        b = bytearray(body)
        for _ in range(rng.randint(1, 5)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        body = bytes(b)
    elif r < 0.5:
        row = good["rows"][0]
        key = rng.choice(
            ["input", "metadata", "scores", "metrics", "tags", "span_parents", "id", "created", "_is_merge"]
        )
        row[key] = rng.choice(
            [
                None,
                1,
                -1.5,
                "s",
                [],
                {},
                [1, "a"],
                {"x": {"y": []}},
                True,
                "__BIGINT__",
                "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
            ]
        )
        body = orjson.dumps(good).replace(
            b'"__BIGINT__"', str(rng.choice([2**64, -(2**63) - 1, 10**30])).encode()
        )
    elif r < 0.6:
        depth = rng.choice([50, 120, 250, 300, 600, 1100])
        good["rows"][0]["input"] = "__NESTED__"
        body = orjson.dumps(good).replace(b'"__NESTED__"', b'{"a":' * depth + b"1" + b"}" * depth)
    elif r < 0.7:
        body = rng.choice(
            [
                b"",
                b"[]",
                b"null",
                b"{}",
                b'{"rows": 1}',
                b'{"rows": [1, 2]}',
                b"\xff\xfe\x00",
                b'{"rows": [{}]}',
            ]
        )
    elif r < 0.8:
        body = gzip.compress(body)[: rng.randint(1, 20)]
        headers["Content-Encoding"] = "gzip"
    elif r < 0.9:
        good["rows"][0]["scores"] = {"s": rng.choice([2.0, -1.0, 1e308, 0.5])}
        good["rows"][0]["metadata"] = {"k" * rng.randint(1, 300): rng.random()}
        body = orjson.dumps(good)
    else:
        return FuzzRequest(
            "fuzz_auth", "POST", "/logs3", body, {**headers, "Authorization": "Bearer sk-nope"}, auth=False
        )
    return FuzzRequest("fuzz_logs3", "POST", "/logs3", body, headers)


def otlp(rng: random.Random, fuzz_project: str) -> FuzzRequest:
    headers = {"x-bt-parent": f"project_id:{fuzz_project}"}
    r = rng.random()
    if r < 0.4:
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
        headers["Content-Type"] = "application/x-protobuf"
    else:
        span: dict[str, object] = {
            "traceId": f"{rng.getrandbits(128):032x}",
            "spanId": f"{rng.getrandbits(63) | 1:016x}",
            "name": "fz",
        }
        key = rng.choice(
            [
                "traceId",
                "spanId",
                "status",
                "events",
                "startTimeUnixNano",
                "attributes",
                "kind",
                "parentSpanId",
            ]
        )
        span[key] = rng.choice(
            [
                "zz",
                "",
                12,
                -1,
                None,
                [],
                {},
                "1e300",
                [{"key": None}],
                [{"key": "a", "value": {"intValue": "x"}}],
            ]
        )
        body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
        if rng.random() < 0.3:
            body = body[: rng.randint(1, len(body))]
        headers["Content-Type"] = "application/json"
    return FuzzRequest("fuzz_otlp", "POST", "/otel/v1/traces", body, headers)


def oversized(max_bytes: int) -> FuzzRequest:
    """A body just past the request limit: must be refused (413), whatever it holds."""
    return FuzzRequest(
        "fuzz_oversized",
        "POST",
        "/logs3",
        b'{"rows": [' + b" " * max_bytes + b"]}",
        {"Content-Type": "application/json"},
    )


def from_fuzz_suite(rng: random.Random, objects: list[SoakObject], fuzz_project: str) -> FuzzRequest | None:
    """A request from the repo's fuzz suite generators (tests/support/fuzz_*), when present:
    BTQL aimed at the soak's objects (reads), hostile writes into the fuzz project only."""
    try:
        from tests.support import fuzz_bodies, fuzz_btql
    except ImportError:
        return None
    by_type: dict[str, str] = {}
    for o in objects:
        by_type.setdefault(o.object_type, o.object_id)
    if len(by_type) < 3:
        return None
    try:
        if rng.random() < 0.5:
            case = fuzz_btql.btql_case(rng, by_type)
            kind = "fuzz_suite_btql"
        else:
            wc = fuzz_bodies.logs3_case(
                rng, rng.randint(1, 5), ("project_logs", fuzz_project), fuzz_project, "fzs"
            )
            case, kind = wc.case, "fuzz_suite_logs3"
        body = case.body() or b""
    except Exception:  # the suite's generators are another team's moving code: skip, never crash
        return None
    headers = {k: v for k, v in case.headers.items() if isinstance(v, str) and v.isascii()}
    if case.gzip_body:
        headers.setdefault("Content-Encoding", "gzip")
    headers.setdefault("Content-Type", "application/json")
    return FuzzRequest(kind, case.method, case.path, body, headers)


def pick(rng: random.Random, objects: list[SoakObject], fuzz_project: str) -> FuzzRequest:
    if rng.random() < 0.3:
        shared = from_fuzz_suite(rng, objects, fuzz_project)
        if shared is not None:
            return shared
    r = rng.random()
    if r < 0.45:
        return btql(rng, objects)
    if r < 0.8:
        return logs3(rng, fuzz_project)
    return otlp(rng, fuzz_project)
