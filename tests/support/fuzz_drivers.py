"""The fuzz suite's drivers: each sends one family of hostile requests (bounded by a count and a
time budget, derived from a seeded `random.Random`) and books written rows in a `Ledger`."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from tests.support.fuzz_bodies import (
    HOSTILE_PARENTS,
    OtlpCase,
    WriteCase,
    insert_case,
    logs3_case,
    many_rows_case,
    otlp_json_case,
    otlp_protobuf_case,
    target_fields,
    valid_row,
)
from tests.support.fuzz_btql import btql_case, duplicate_names_query
from tests.support.fuzz_client import Case, FuzzClient, Ledger, run_for
from tests.support.fuzz_env import FuzzEnv
from tests.support.fuzz_json import ODD_STRINGS, Nest, Raw, odd_key, odd_value

OBJECT_TYPES = ("project_logs", "experiment", "dataset")
Step = Callable[[int], None]


def book_write(ledger: Ledger, wc: WriteCase, r: httpx.Response | None) -> None:
    if r is None:
        return
    if r.status_code == 200:
        if wc.tracked:
            try:
                row_ids = [str(x) for x in r.json()["row_ids"]]
            except (ValueError, KeyError, TypeError):
                row_ids = wc.ids
            ledger.note(200, wc.obj, wc.ids, row_ids)
    elif 400 <= r.status_code < 500:
        ledger.note(r.status_code, wc.obj, wc.ids, [])


def book_otlp(ledger: Ledger, oc: OtlpCase, project_id: str, r: httpx.Response | None) -> None:
    if r is None:
        return
    obj = ("project_logs", project_id)
    if 400 <= r.status_code < 500:
        ledger.note(r.status_code, obj, oc.span_ids, [])
        return
    if r.status_code != 200 or not oc.tracked:
        return
    rejected = None
    if r.headers.get("content-type", "").startswith("application/x-protobuf"):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        try:
            rejected = ExportTraceServiceResponse.FromString(r.content).partial_success.rejected_spans
        except Exception:  # an undecodable answer is itself a finding of the caller's check
            rejected = None
    else:
        try:
            rejected = int((r.json().get("partialSuccess") or {}).get("rejectedSpans") or 0)
        except (ValueError, AttributeError, TypeError):
            rejected = None
    if rejected == 0:
        ledger.note(200, obj, oc.span_ids, oc.span_ids)


# -- writes -------------------------------------------------------------------------------------


def write_fuzz(
    env: FuzzEnv,
    client: FuzzClient,
    ledger: Ledger,
    rng: random.Random,
    budget_s: float,
    count: int,
    tag: str,
) -> int:
    """`/logs3` and `/v1/{type}/{id}/insert` bodies against the caller's three objects."""
    return run_for(budget_s, count, write_step(env, client, ledger, rng, tag))


def write_step(env: FuzzEnv, client: FuzzClient, ledger: Ledger, rng: random.Random, tag: str) -> Step:
    pid = env.mine.project_id

    def step(i: int) -> None:
        obj = (rng.choice(OBJECT_TYPES), "")
        obj = (obj[0], env.mine.ids[obj[0]])
        if i == 7:
            wc = many_rows_case(i, obj, pid, tag)
        elif rng.random() < 0.65:
            wc = logs3_case(rng, i, obj, pid, tag)
        else:
            wc = insert_case(rng, i, obj, pid, tag)
        book_write(ledger, wc, client.send(wc.case))

    return step


def overflow_fuzz(
    env: FuzzEnv, client: FuzzClient, ledger: Ledger, rng: random.Random, tag: str, count: int
) -> None:
    """The `/logs3/overflow` handshake with hostile sizes, uploads and references."""
    pid = env.mine.project_id
    obj = ("project_logs", pid)
    for i in range(count):
        size: Any = rng.choice([10, 0, -1, 2**64, "10", None, 1e300, 64 * 1024 * 1024, Raw(b"1e309")])
        r = client.send(
            Case("overflow", "POST", "/logs3/overflow", {"size_bytes": size, "content_type": odd_value(rng)})
        )
        if r is None or r.status_code != 200:
            continue
        info = r.json()
        url = httpx.URL(info["signedUrl"])
        rows = [valid_row(rng, f"{tag}-ovf-{i}-{j}", obj, pid) for j in range(3)]
        if rng.random() < 0.5:
            rows[1]["metadata"] = odd_value(rng)
        payload: Any = rng.choice(
            [{"rows": rows}, {"rows": rows}, {"rows": "x"}, [rows], Nest(1100), Raw(b"{")]
        )
        put = Case("blob-put", "PUT", url.raw_path.decode(), payload, headers=info.get("headers") or {})
        put_r = client.send(put)
        if put_r is None or put_r.status_code != 200:
            continue
        ref: Any = {"type": "logs3_overflow", "key": info["key"]}
        if rng.random() < 0.3:
            ref["key"] = rng.choice(
                [info["key"] + "x", "", 1, None, "../" + info["key"], env.theirs.key[:8] + "/overflow/x"]
            )
        r = client.send(Case("logs3-overflow-ref", "POST", "/logs3", {"rows": ref}))
        tracked = payload == {"rows": rows} and ref["key"] == info["key"]
        book_write(ledger, WriteCase(Case("", "", ""), obj, [x["id"] for x in rows], tracked), r)
    for token in ["", "x", "a.b", "x" * 5000, "%00", "..%2F..%2Fetc", quote("🤖", safe="")]:
        client.send(Case("blob-get", "GET", f"/blob/{token}"))
        client.send(Case("blob-put", "PUT", f"/blob/{token}", raw=b"data"))


# -- OTLP -----------------------------------------------------------------------------------------


def otlp_fuzz(
    env: FuzzEnv,
    client: FuzzClient,
    ledger: Ledger,
    rng: random.Random,
    budget_s: float,
    count: int,
    hexp: str,
) -> int:
    return run_for(budget_s, count, otlp_step(env, client, ledger, rng, hexp))


def otlp_step(env: FuzzEnv, client: FuzzClient, ledger: Ledger, rng: random.Random, hexp: str) -> Step:
    pid = env.mine.project_id

    def step(i: int) -> None:
        parent = f"project_id:{pid}"
        hostile_parent = rng.random() < 0.1
        if hostile_parent:
            parent = rng.choice(HOSTILE_PARENTS)
        maker = otlp_protobuf_case if rng.random() < 0.5 else otlp_json_case
        oc = maker(rng, i, parent, hexp)
        if hostile_parent:
            oc.tracked = False
        book_otlp(ledger, oc, pid, client.send(oc.case))

    return step


# -- BTQL -----------------------------------------------------------------------------------------


def btql_fuzz(env: FuzzEnv, client: FuzzClient, rng: random.Random, budget_s: float, count: int) -> int:
    return run_for(budget_s, count, btql_step(env, client, rng))


def btql_step(env: FuzzEnv, client: FuzzClient, rng: random.Random) -> Step:
    ids = env.mine.ids

    def step(i: int) -> None:
        if i % 25 == 24:
            job = client.send(btql_case(rng, ids, "/btql/async"))
            job_id = job.json().get("id") if job is not None and job.status_code == 200 else None
            for jid in [job_id, str(uuid.uuid4()), "x" * 3000, "'", quote("\x00", safe="")]:
                if not jid:
                    continue
                client.send(Case("btql-async-status", "GET", f"/btql/async/{jid}"))
                params = {"limit": rng.choice(["10", "-1", "1e309", "x", "99999999999999999999"])}
                if rng.random() < 0.5:
                    params["cursor"] = rng.choice(["garbage", "", "eyJ9", "x" * 3000])
                client.send(Case("btql-async-result", "GET", f"/btql/async/{jid}/result", params=params))
                if rng.random() < 0.5:
                    client.send(Case("btql-async-cancel", "DELETE", f"/btql/async/{jid}"))
        elif i % 25 == 12:
            t = rng.choice(["project_logs", "experiment", "dataset", "x", "", "prompt_session"])
            oid = rng.choice([ids.get(t, ids["dataset"]), str(uuid.uuid4()), "", "'", "x" * 3000])
            client.send(
                Case("btql-schema", "GET", "/btql/schema", params={"object_type": t, "object_id": oid})
            )
        else:
            client.send(btql_case(rng, ids))

    return step


def mixed_fuzz(
    env: FuzzEnv,
    client: FuzzClient,
    ledger: Ledger,
    rng: random.Random,
    budget_s: float,
    count: int,
    tag: str,
    stop: threading.Event | None = None,
) -> int:
    """Writes (1/2), OTLP (1/4) and BTQL (1/4) interleaved, until `count`, `budget_s` or `stop`."""
    write = write_step(env, client, ledger, rng, tag)
    otlp = otlp_step(env, client, ledger, rng, "c3")
    btql = btql_step(env, client, rng)
    deadline = time.monotonic() + budget_s
    i = 0
    while i < count and time.monotonic() < deadline and not (stop and stop.is_set()):
        rng.choice([write, write, otlp, btql])(i)
        i += 1
    return i


def btql_stall_probe(env: FuzzEnv, client: FuzzClient, n: int = 2000) -> None:
    """Defect 4's shape, at a size that costs seconds (not half a minute) while still quadratic."""
    client.send(Case("btql-dup-names", "POST", "/btql", {"query": duplicate_names_query(env.mine.ids, n)}))


# -- reads, control plane, admin ------------------------------------------------------------------


def _odd_id(rng: random.Random, env: FuzzEnv, kind: str) -> str:
    return rng.choice(
        [
            env.mine.ids.get(kind, env.mine.project_id),
            env.theirs.ids.get(kind, env.theirs.project_id),
            str(uuid.uuid4()),
            "x" * 5000,
            "'",
            "🤖",
            " ",
            "null",
            "%00",
            "a%2Fb",
        ]
    )


def _odd_param(rng: random.Random) -> str:
    return rng.choice(
        [
            "",
            "-1",
            "0",
            "1",
            "1e309",
            "99999999999999999999",
            "abc",
            "true",
            "\u00e9",
            "x" * 3000,
            "%00",
            "[]",
        ]
    )


def read_fuzz(env: FuzzEnv, client: FuzzClient, rng: random.Random, budget_s: float, count: int) -> int:
    def step(i: int) -> None:
        kind = rng.randrange(8)
        t = rng.choice([*OBJECT_TYPES, *OBJECT_TYPES, "prompt_session", "project_prompts", "x", "api_key"])
        oid = quote(_odd_id(rng, env, t), safe="%")
        if kind == 0:
            params = {
                k: _odd_param(rng) for k in rng.sample(["limit", "cursor", "version"], rng.randrange(0, 4))
            }
            client.send(Case("fetch-get", "GET", f"/v1/{t}/{oid}/fetch", params=params))
        elif kind == 1:
            body: Any = {
                k: odd_value(rng) for k in rng.sample(["limit", "cursor", "version", "filters", "x"], 2)
            }
            if rng.random() < 0.3:
                body = rng.choice([Raw(b"{"), [], "x", Nest(1100), Raw(b'{"limit": 1e309}')])
            client.send(Case("fetch-post", "POST", f"/v1/{t}/{oid}/fetch", body))
        elif kind == 2:
            eid = quote(_odd_id(rng, env, "experiment"), safe="%")
            params = {"summarize_scores": _odd_param(rng)}
            if rng.random() < 0.5:
                params["comparison_experiment_id"] = _odd_id(rng, env, "experiment")
            client.send(Case("summarize-exp", "GET", f"/v1/experiment/{eid}/summarize", params=params))
        elif kind == 3:
            params = {"experiment_id": _odd_id(rng, env, "experiment")}
            if rng.random() < 0.5:
                params["base_experiment_id"] = _odd_id(rng, env, "experiment")
            client.send(Case("exp-comparison2", "GET", "/experiment-comparison2", params=params))
        elif kind == 4:
            did = quote(_odd_id(rng, env, "dataset"), safe="%")
            client.send(
                Case(
                    "summarize-ds",
                    "GET",
                    f"/v1/dataset/{did}/summarize",
                    params={"summarize_data": _odd_param(rng)},
                )
            )
        elif kind == 5:
            client.send(
                Case(
                    "dataset-summary",
                    "GET",
                    "/dataset-summary",
                    params={"dataset_id": _odd_id(rng, env, "dataset")},
                )
            )
        elif kind == 6:
            client.send(
                Case(
                    "btql-schema",
                    "GET",
                    "/btql/schema",
                    params={"object_type": t, "object_id": _odd_id(rng, env, t)},
                )
            )
        else:
            env_name = rng.choice(["production", "", "x" * 3000, "🤖"])
            client.send(
                Case("env-object", "GET", f"/environment-object/{t}/{oid}/{quote(env_name, safe='')}")
            )

    return run_for(budget_s, count, step)


def _odd_name(rng: random.Random) -> Any:
    return rng.choice([*ODD_STRINGS, 1, None, [], {}, True, f"n-{rng.randrange(10**9)}", Raw(b'"\xff"')])


def control_plane_fuzz(
    env: FuzzEnv, client: FuzzClient, rng: random.Random, budget_s: float, count: int
) -> int:
    """Project/experiment/dataset/API-key CRUD, the legacy register/get routes, login, version,
    ping, dead letters, attachments. Never deletes the fuzzer's own main objects or key."""
    pid = env.mine.project_id

    def body_for(kind: str) -> Any:
        b: dict[Any, Any] = {"name": _odd_name(rng)}
        if kind != "project":
            b["project_id"] = rng.choice([pid, env.theirs.project_id, str(uuid.uuid4()), None, 1])
        for k in rng.sample(
            [
                "description",
                "metadata",
                "tags",
                "org_name",
                "settings",
                "base_exp_id",
                "dataset_version",
                "repo_info",
                odd_key(rng),
            ],
            2,
        ):
            b[k] = odd_value(rng)
        return b if rng.random() > 0.15 else rng.choice([Raw(b"{"), [], Nest(1100), "x", Raw(b"")])

    def step(i: int) -> None:
        kind = rng.choice(["project", "experiment", "dataset"])
        op = rng.randrange(16)
        if op <= 2:
            r = client.send(Case(f"create-{kind}", "POST", f"/v1/{kind}", body_for(kind)))
            if r is not None and r.status_code == 200 and rng.random() < 0.5:
                new_id = r.json().get("id")
                if new_id and new_id not in env.mine.ids.values():
                    client.send(Case(f"patch-{kind}", "PATCH", f"/v1/{kind}/{new_id}", body_for(kind)))
                    client.send(Case(f"delete-{kind}", "DELETE", f"/v1/{kind}/{new_id}"))
        elif op == 3:
            params = {
                k: _odd_param(rng)
                for k in rng.sample(
                    [
                        "limit",
                        "starting_after",
                        "ending_before",
                        "ids",
                        "project_name",
                        f"{kind}_name",
                        "org_name",
                        "project_id",
                    ],
                    3,
                )
            }
            client.send(Case(f"list-{kind}", "GET", f"/v1/{kind}", params=params))
        elif op == 4:
            oid = quote(_odd_id(rng, env, "project_logs" if kind == "project" else kind), safe="%")
            client.send(Case(f"get-{kind}", "GET", f"/v1/{kind}/{oid}"))
        elif op == 5:
            oid = _odd_id(rng, env, "project_logs" if kind == "project" else kind)
            if oid in env.mine.ids.values():
                oid = str(uuid.uuid4())
            client.send(Case(f"patch-{kind}", "PATCH", f"/v1/{kind}/{quote(oid, safe='%')}", body_for(kind)))
            client.send(Case(f"delete-{kind}", "DELETE", f"/v1/{kind}/{quote(oid, safe='%')}"))
        elif op == 6:
            r = client.send(
                Case(
                    "create-key", "POST", "/v1/api_key", {"name": _odd_name(rng), "org_name": _odd_name(rng)}
                )
            )
            if r is not None and r.status_code == 200:
                client.send(Case("revoke-key", "DELETE", f"/v1/api_key/{r.json()['id']}"))
        elif op == 7:
            params = {
                k: _odd_param(rng)
                for k in rng.sample(
                    ["limit", "starting_after", "ending_before", "ids", "api_key_name", "org_name"], 2
                )
            }
            client.send(Case("list-keys", "GET", "/v1/api_key", params=params))
            kid = quote(rng.choice([str(uuid.uuid4()), "x" * 3000, "'", "🤖"]), safe="")
            client.send(Case("get-key", "GET", f"/v1/api_key/{kid}"))
            client.send(Case("revoke-key", "DELETE", f"/v1/api_key/{kid}"))
        elif op == 8:
            body: Any = {"project_name": _odd_name(rng), "org_id": _odd_name(rng)}
            client.send(Case("legacy-project-register", "POST", "/api/project/register", body))
            client.send(
                Case(
                    "legacy-project-get",
                    "GET",
                    "/api/project",
                    params={"id": _odd_id(rng, env, "project_logs")},
                )
            )
        elif op == 9:
            body = {
                "project_name": _odd_name(rng),
                "experiment_name": _odd_name(rng),
                "update": odd_value(rng),
            }
            if rng.random() < 0.5:
                body["project_id"] = rng.choice([pid, env.theirs.project_id, 5])
            client.send(Case("legacy-experiment-register", "POST", "/api/experiment/register", body))
            client.send(
                Case(
                    "legacy-experiment-get",
                    "POST",
                    "/api/experiment/get",
                    {"project_id": _odd_name(rng), "experiment_name": _odd_name(rng)},
                )
            )
        elif op == 10:
            body = {"project_name": _odd_name(rng), "dataset_name": _odd_name(rng)}
            client.send(Case("legacy-dataset-register", "POST", "/api/dataset/register", body))
            client.send(
                Case("legacy-base-exp", "POST", "/api/base_experiment/get_id", {"id": _odd_name(rng)})
            )
        elif op == 11:
            client.send(Case("login", "POST", "/api/apikey/login", odd_value(rng)))
            client.send(Case("version", "GET", "/version", params={"x": _odd_param(rng)}))
            client.send(Case("ping", "GET", "/ping"))
        elif op == 12:
            params = {"limit": _odd_param(rng), "include_replayed": _odd_param(rng)}
            client.send(Case("dlq-list", "GET", "/api/admin/dlq", params=params))
            ids: Any = rng.choice([[str(uuid.uuid4())], "x", [1], [None], ["x" * 3000], {}, [odd_value(rng)]])
            client.send(Case("dlq-replay", "POST", "/api/admin/dlq/replay", {"ids": ids}))
        elif op == 13:
            key = rng.choice([*ODD_STRINGS, "../x", "a/../../b", "k", 1, None, "/"])
            client.send(
                Case("attachment", "POST", "/attachment", {"key": key, "content_type": _odd_name(rng)})
            )
            status = rng.choice(
                [{"upload_status": "done"}, {"upload_status": "x"}, "done", None, odd_value(rng)]
            )
            client.send(
                Case("attachment-status", "POST", "/attachment/status", {"key": key, "status": status})
            )
            client.send(Case("attachment-get", "GET", "/attachment", params={"key": str(key)}))
        elif op == 14:
            client.send(
                Case(
                    f"create-{kind}",
                    "POST",
                    f"/v1/{kind}",
                    {"name": f"dup-{i}", "project_id": pid, "ensure_new": odd_value(rng)},
                )
            )
        else:
            for big in (1100, 300):
                client.send(
                    Case(f"create-{kind}", "POST", f"/v1/{kind}", {"name": Nest(big, "x"), "project_id": pid})
                )

    return run_for(budget_s, count, step)


# -- headers --------------------------------------------------------------------------------------

HOSTILE_HEADERS: list[dict[str, str]] = [
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer " + "x" * 10_000},
    {"Authorization": "Bearer sk-ll-\u00e9\u00e8\u00ea"},
    {"Authorization": "Basic Zm9vOmJhcg=="},
    {"Authorization": "bearer"},
    {"Authorization": "Bearer 🤖"},
    {"x-request-id": "🤖" * 200},
    {"x-request-id": "r" * 8000},
    {"traceparent": "00-" + "-" * 50},
    {"traceparent": "a-b-c-d-\u00e9"},
    {"traceparent": "00-zz-zz-zz"},
    {"Accept": "\u00e9/\u00e8"},
    {"Accept-Encoding": "br;q=\u00e9"},
    {"X-Forwarded-For": "\u00e9, 999.999.1.1"},
    {"x-bt-parent": "project_name:" + "\u00e9" * 2000},
    {"x-bt-parent": "project_id:🤖"},
    {"x-bt-org-name": "\u00e9" * 100},
    {"Content-Type": "application/json; charset=\u00e9"},
    {"Content-Encoding": "\u00e9"},
    {"Cookie": "a=" + "b" * 6000},
]


def header_fuzz(
    env: FuzzEnv, client: FuzzClient, ledger: Ledger, rng: random.Random, tag: str, count: int
) -> None:
    pid = env.mine.project_id
    obj = ("project_logs", pid)
    for i in range(count):
        headers = dict(rng.choice(HOSTILE_HEADERS))
        if rng.random() < 0.4:
            headers.update(rng.choice(HOSTILE_HEADERS))
        target = rng.randrange(5)
        if target == 0:
            rid = f"{tag}-h-{i}"
            wc = WriteCase(
                Case(
                    "logs3-headers",
                    "POST",
                    "/logs3",
                    {"rows": [{"id": rid, **target_fields(obj, pid), "input": i}]},
                    headers=headers,
                ),
                obj,
                [rid],
            )
            book_write(ledger, wc, client.send(wc.case))
        elif target == 1:
            oc = otlp_protobuf_case(rng, 10_000 + i, headers.pop("x-bt-parent", f"project_id:{pid}"), "ee")
            oc.case.headers.update(headers)
            oc.tracked = False
            book_otlp(ledger, oc, pid, client.send(oc.case))
        elif target == 2:
            client.send(
                Case(
                    "btql-headers",
                    "POST",
                    "/btql",
                    {"query": f"select: id | from: project_logs('{pid}') | limit: 1"},
                    headers=headers,
                )
            )
        elif target == 3:
            client.send(Case("ping-headers", "GET", "/ping", headers=headers))
        else:
            client.send(
                Case(
                    "fetch-headers",
                    "GET",
                    f"/v1/project_logs/{pid}/fetch",
                    headers=headers,
                    params={"limit": "1"},
                )
            )


# -- another org ----------------------------------------------------------------------------------


def tenant_fuzz(
    env: FuzzEnv, client: FuzzClient, ledger_theirs: Ledger, rng: random.Random, tag: str
) -> list[str]:
    """With the caller's key, write into, read and change the other org's objects. Every write must
    be refused (booked in `ledger_theirs` as rejected: checked with their key afterwards); every
    read must come back empty or 4xx. Returns leak descriptions."""
    leaks: list[str] = []
    theirs = env.theirs
    for i, kind in enumerate([*OBJECT_TYPES, *OBJECT_TYPES]):
        obj = (kind, theirs.ids[kind])
        rid = f"{tag}-t-{i}"
        row = {"id": rid, **target_fields(obj, theirs.project_id), "input": "intruder"}
        wc = WriteCase(Case("tenant-logs3", "POST", "/logs3", {"rows": [row]}), obj, [rid])
        r = client.send(wc.case)
        book_write(ledger_theirs, wc, r)
        if r is not None and r.status_code == 200:
            leaks.append(f"/logs3 into the other org's {kind} was acknowledged: {r.text[:200]}")
        rid2 = f"{tag}-t2-{i}"
        wc = WriteCase(
            Case("tenant-insert", "POST", f"/v1/{kind}/{obj[1]}/insert", {"events": [{"id": rid2}]}),
            obj,
            [rid2],
        )
        r = client.send(wc.case)
        book_write(ledger_theirs, wc, r)
        if r is not None and r.status_code == 200:
            leaks.append(f"insert into the other org's {kind} was acknowledged: {r.text[:200]}")
        for case in (
            Case("tenant-fetch", "GET", f"/v1/{kind}/{obj[1]}/fetch"),
            Case("tenant-fetch", "POST", f"/v1/{kind}/{obj[1]}/fetch", {}),
            Case("tenant-btql", "POST", "/btql", {"query": f"select: * | from: {kind}('{obj[1]}')"}),
            Case("tenant-schema", "GET", "/btql/schema", params={"object_type": kind, "object_id": obj[1]}),
        ):
            r = client.send(case)
            if r is not None and r.status_code == 200 and "intruder-secret" in r.text:
                leaks.append(f"{case.summary()} returned the other org's rows")
    otlp = otlp_protobuf_case(rng, 99_999, f"project_id:{theirs.project_id}", "dd", mutate=False)
    r = client.send(otlp.case)
    if r is not None and r.status_code == 200:
        ledger_theirs.reject(("project_logs", theirs.project_id), otlp.span_ids)  # must be rejected spans
    for kind, path in (("project", "project"), ("experiment", "experiment"), ("dataset", "dataset")):
        oid = theirs.ids["project_logs" if kind == "project" else kind]
        for case in (
            Case("tenant-get", "GET", f"/v1/{path}/{oid}"),
            Case("tenant-patch", "PATCH", f"/v1/{path}/{oid}", {"name": "hijacked", "description": "x"}),
            Case("tenant-delete", "DELETE", f"/v1/{path}/{oid}"),
        ):
            r = client.send(case)
            if r is not None and r.status_code < 400:
                leaks.append(f"{case.summary()} answered {r.status_code}")
    for case in (
        Case("tenant-summary", "GET", f"/v1/experiment/{theirs.ids['experiment']}/summarize"),
        Case(
            "tenant-cmp", "GET", "/experiment-comparison2", params={"experiment_id": theirs.ids["experiment"]}
        ),
        Case("tenant-ds-summary", "GET", "/dataset-summary", params={"dataset_id": theirs.ids["dataset"]}),
        Case("tenant-legacy-project", "GET", "/api/project", params={"id": theirs.project_id}),
        Case("tenant-base", "POST", "/api/base_experiment/get_id", {"id": theirs.ids["experiment"]}),
        Case(
            "tenant-exp-register",
            "POST",
            "/api/experiment/register",
            {"project_id": theirs.project_id, "experiment_name": "x"},
        ),
    ):
        r = client.send(case)
        if r is not None and r.status_code < 400:
            leaks.append(f"{case.summary()} answered {r.status_code}: {r.text[:200]}")
    return leaks


def seed_secret_rows(env: FuzzEnv, tag: str) -> None:
    """The other org's own rows (marked intruder-secret), which no request of ours may return."""
    h = {"Authorization": f"Bearer {env.theirs.key}"}
    rows = [
        {
            "id": f"{tag}-secret-{k}",
            **target_fields((k, env.theirs.ids[k]), env.theirs.project_id),
            "input": "intruder-secret",
        }
        for k in OBJECT_TYPES
    ]
    r = httpx.post(f"{env.ll.url}/logs3", content=orjson.dumps({"rows": rows}), headers=h, timeout=30)
    r.raise_for_status()


def their_objects_intact(env: FuzzEnv) -> list[str]:
    problems = []
    h = {"Authorization": f"Bearer {env.theirs.key}"}
    with httpx.Client(base_url=env.ll.url, headers=h, timeout=30) as c:
        for kind, path in (("project_logs", "project"), ("experiment", "experiment"), ("dataset", "dataset")):
            r = c.get(f"/v1/{path}/{env.theirs.ids[kind]}")
            if r.status_code != 200 or r.json().get("deleted_at") or r.json().get("name") == "hijacked":
                problems.append(f"the other org's {path} changed: {r.status_code} {r.text[:200]}")
    return problems
