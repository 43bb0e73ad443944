"""The oracle: for one object, BTQL answers vs fetch vs the soak's model of what was acknowledged.

Every disagreement is a WRONG ANSWER, recorded with the queries and both answers. Rows the model
holds as acknowledged but that a read misses are also LOST-ROW candidates; the final pass (after
the load stops) decides which are really lost.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

from tests.soak.client import SoakClient
from tests.soak.model import SoakObject
from tests.soak.traffic import BUCKETS, NOMATCH

PAGE = 200
MAX_PAGES = 5000
MAX_WRONG_SAMPLES = 100


def _ids_preview(ids: set[str]) -> list[str]:
    return sorted(ids)[:20]


class Findings:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.wrong: list[dict[str, Any]] = []
        self.n_wrong = 0
        self.wrong_by_check: Counter[str] = Counter()
        self.checks: Counter[str] = Counter()
        self.inconclusive: Counter[str] = Counter()
        self.lost: list[dict[str, Any]] = []
        self.n_lost = 0
        self.valid_rejected: list[dict[str, Any]] = []
        self.n_valid_rejected = 0

    def wrong_answer(self, check: str, obj: SoakObject, queries: list[Any], answers: dict[str, Any]) -> None:
        with self._lock:
            self.n_wrong += 1
            self.wrong_by_check[check] += 1
            if len(self.wrong) < MAX_WRONG_SAMPLES:
                self.wrong.append({"check": check, "object": obj.ref, "queries": queries, "answers": answers})

    def checked(self, check: str) -> None:
        with self._lock:
            self.checks[check] += 1

    def could_not_check(self, check: str) -> None:
        with self._lock:
            self.inconclusive[check] += 1

    def lost_rows(self, obj: SoakObject, ids: set[str], how: str) -> None:
        with self._lock:
            self.n_lost += len(ids)
            self.lost.append({"object": obj.ref, "count": len(ids), "ids": _ids_preview(ids), "seen_by": how})

    def rejected_valid(self, kind: str, status: int | str, detail: str) -> None:
        with self._lock:
            self.n_valid_rejected += 1
            if len(self.valid_rejected) < MAX_WRONG_SAMPLES:
                self.valid_rejected.append({"kind": kind, "status": status, "detail": detail[:500]})


class Inconclusive(Exception):
    """A read the oracle needed did not answer 200 (already counted as an error if 5xx)."""

    def __init__(self, label: str, detail: str = "") -> None:
        super().__init__(f"{label}: {detail}" if detail else label)
        self.label = label


class Oracle:
    def __init__(
        self, client: SoakClient, findings: Findings, rng: random.Random, deadline: float = float("inf")
    ) -> None:
        self.client = client
        self.findings = findings
        self.rng = rng
        self.deadline = deadline  # a check still running at this monotonic time is abandoned

    def _in_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise Inconclusive("deadline")

    # ---- reads ----
    def _btql_page(self, query: Any, kind: str = "oracle_btql") -> dict[str, Any]:
        self._in_time()
        r = self.client.send(kind, "POST", "/btql", json={"query": query})
        if r is None or r.status_code != 200:
            raise Inconclusive(f"btql {None if r is None else r.status_code}", repr(query)[:300])
        doc: dict[str, Any] = r.json()
        return doc

    def btql_ids(self, query: str) -> list[str]:
        ids: list[str] = []
        cursor = None
        for _ in range(MAX_PAGES):
            q = f"{query} | limit: {PAGE}" + (f" | cursor: '{cursor}'" if cursor else "")
            doc = self._btql_page(q)
            ids += [str(x["id"]) for x in doc["data"]]
            cursor = doc.get("cursor")
            if not cursor or not doc["data"]:
                return ids
        raise Inconclusive("btql: too many pages", query)

    def btql_value(self, query: str) -> Any:
        return self._btql_page(query)["data"]

    def fetch_ids(self, obj: SoakObject) -> list[str]:
        ids: list[str] = []
        cursor = None
        for _ in range(MAX_PAGES):
            self._in_time()
            r = self.client.send(
                "oracle_fetch",
                "POST",
                f"/v1/{obj.object_type}/{obj.object_id}/fetch",
                json={"limit": PAGE, "cursor": cursor},
            )
            if r is None or r.status_code != 200:
                raise Inconclusive(f"fetch {None if r is None else r.status_code}", obj.ref)
            doc = r.json()
            ids += [str(e["id"]) for e in doc["events"]]
            cursor = doc.get("cursor")
            if not cursor or not doc["events"]:
                return ids
        raise Inconclusive("fetch: too many pages", obj.ref)

    def sdk_fetch_ids(self, obj: SoakObject) -> list[str]:
        """The SDK's own BTQL object fetch (select star as a JSON AST), paged by cursor."""
        ids: list[str] = []
        cursor = None
        for _ in range(MAX_PAGES):
            q: dict[str, Any] = {
                "select": [{"op": "star"}],
                "from": {
                    "op": "function",
                    "name": {"op": "ident", "name": [obj.object_type]},
                    "args": [{"op": "literal", "value": obj.object_id}],
                },
                "limit": PAGE,
            }
            if cursor:
                q["cursor"] = cursor
            doc = self._btql_page(q, "oracle_sdk_fetch")
            ids += [str(e["id"]) for e in doc["data"]]
            cursor = doc.get("cursor")
            if not cursor or not doc["data"]:
                return ids
        raise Inconclusive("sdk fetch: too many pages", obj.ref)

    # ---- checks ----
    def _set_check(
        self, check: str, obj: SoakObject, query: Any, got: list[str], expected: set[str]
    ) -> set[str]:
        """Compare ids a read returned with the model; return the acknowledged ids it missed."""
        self.findings.checked(check)
        got_set = set(got)
        dups = len(got) - len(got_set)
        missing = expected - got_set
        extra = got_set - expected - obj.uncertain
        if dups or missing or extra:
            self.findings.wrong_answer(
                check,
                obj,
                [query],
                {
                    "returned": len(got),
                    "duplicates": dups,
                    "expected_by_model": len(expected),
                    "missing": _ids_preview(missing),
                    "n_missing": len(missing),
                    "unexpected": _ids_preview(extra),
                    "n_unexpected": len(extra),
                },
            )
        return missing

    def check(self, obj: SoakObject) -> None:
        """All checks of one object; call with `obj.lock` held (no write to it runs meanwhile)."""
        try:
            self._check(obj)
        except Inconclusive as exc:
            self.findings.could_not_check(exc.label)

    def final_check(self, obj: SoakObject) -> bool:
        """After the load: every acknowledged, undeleted row must be readable (else it is lost).
        Returns False when the object could not be read."""
        try:
            fetched = set(self.fetch_ids(obj))
        except Inconclusive:
            return False
        missing = obj.live_ids() - fetched
        self.findings.checked("final_no_lost_rows")
        if missing:
            self.findings.lost_rows(obj, missing, "final fetch")
        return True

    def _check(self, obj: SoakObject) -> None:
        live = obj.live_ids()
        ref = obj.ref
        fetched = self.fetch_ids(obj)
        self._set_check(
            "fetch_vs_acknowledged", obj, f"POST /v1/{obj.object_type}/{obj.object_id}/fetch", fetched, live
        )
        q_ids = f"select: id | from: {ref}"
        btql = self.btql_ids(q_ids)
        self._set_check("btql_ids_vs_acknowledged", obj, q_ids, btql, live)
        self.findings.checked("btql_ids_vs_fetch")
        diff = (set(btql) ^ set(fetched)) - obj.uncertain
        if diff:
            self.findings.wrong_answer(
                "btql_ids_vs_fetch",
                obj,
                [q_ids, "fetch"],
                {
                    "btql_only": _ids_preview(set(btql) - set(fetched)),
                    "fetch_only": _ids_preview(set(fetched) - set(btql)),
                },
            )
        q_count = f"measures: count(1) as n | from: {ref}"
        self._count_check("btql_count_vs_ids", obj, q_count, len(live), {"btql_select_id_rows": len(btql)})
        if self.rng.random() < 0.5:
            self._set_check(
                "sdk_fetch_vs_acknowledged",
                obj,
                "select: * (SDK JSON AST fetch)",
                self.sdk_fetch_ids(obj),
                live,
            )
        self._traces_then_count(obj, live)
        self._filtered(obj)
        self._summary(obj, live)

    def _count_check(
        self, check: str, obj: SoakObject, query: str, expected: int, other: dict[str, Any]
    ) -> None:
        data = self.btql_value(query)
        self.findings.checked(check)
        n = data[0]["n"] if data and isinstance(data[0], dict) else None
        lo, hi = expected, expected + len(obj.uncertain)
        if not isinstance(n, int) or not lo <= n <= hi:
            self.findings.wrong_answer(
                check, obj, [query], {"btql": n, "expected_by_model": expected, **other}
            )

    def _traces_then_count(self, obj: SoakObject, live: set[str]) -> None:
        """A traces query that matches nothing must not change later answers (defect 6)."""
        q_empty = f"select: id | from: {obj.ref} traces | filter: metadata.bucket = '{NOMATCH}'"
        data = self.btql_value(q_empty)
        self.findings.checked("traces_nomatch_is_empty")
        if data:
            self.findings.wrong_answer(
                "traces_nomatch_is_empty", obj, [q_empty], {"btql": data[:5], "expected": []}
            )
        q_count = f"measures: count(1) as n | from: {obj.ref}"
        self._count_check("count_after_empty_traces", obj, q_count, len(live), {"after": q_empty})
        q_star = f"select: id | from: {obj.ref}"
        got = self.btql_ids(q_star)
        self._set_check("ids_after_empty_traces", obj, f"{q_empty} ; then {q_star}", got, live)

    def _filtered(self, obj: SoakObject) -> None:
        bucket = self.rng.choice(BUCKETS)
        q = f"select: id | from: {obj.ref} | filter: metadata.bucket = '{bucket}'"
        self._set_check("filter_bucket_vs_model", obj, q, self.btql_ids(q), obj.ids_where(bucket))
        k = self.rng.randint(0, 1000)
        expected = {i for i, r in obj.rows.items() if r.n is not None and r.n >= k} - obj.uncertain
        q = f"measures: count(1) as n | from: {obj.ref} | filter: metadata.n >= {k}"
        self._count_check("filter_count_vs_model", obj, q, len(expected), {})
        if obj.uncertain:
            return
        q = f"dimensions: metadata.bucket as b | measures: count(1) as n | from: {obj.ref}"
        data = self.btql_value(q)
        self.findings.checked("group_by_bucket_vs_model")
        got = {str(d.get("b")): int(d["n"]) for d in data}
        want: Counter[str] = Counter(str(r.bucket) for r in obj.rows.values())
        if got != dict(want):
            self.findings.wrong_answer(
                "group_by_bucket_vs_model", obj, [q], {"btql": got, "expected_by_model": dict(want)}
            )

    def _summary(self, obj: SoakObject, live: set[str]) -> None:
        if obj.uncertain or obj.object_type == "project_logs":
            return
        if obj.object_type == "dataset":
            path = f"/v1/dataset/{obj.object_id}/summarize"
            r = self.client.send("oracle_summary", "GET", path)
            if r is None or r.status_code != 200:
                raise Inconclusive(f"summary {None if r is None else r.status_code}")
            total = (r.json().get("data_summary") or {}).get("total_records")
            self.findings.checked("dataset_summary_vs_count")
            if total != len(live):
                self.findings.wrong_answer(
                    "dataset_summary_vs_count",
                    obj,
                    [path],
                    {"summary": total, "expected_by_model": len(live)},
                )
            return
        path = f"/v1/experiment/{obj.object_id}/summarize"
        r = self.client.send("oracle_summary", "GET", path)
        if r is None or r.status_code != 200:
            raise Inconclusive(f"summary {None if r is None else r.status_code}")
        scores = [s.score for s in obj.rows.values() if s.score is not None]
        got = ((r.json().get("scores") or {}).get("q") or {}).get("score")
        want = sum(scores) / len(scores) if scores else None
        self.findings.checked("experiment_summary_vs_model")
        if (got is None) != (want is None) or (
            got is not None and want is not None and abs(got - want) > 1e-6
        ):
            self.findings.wrong_answer(
                "experiment_summary_vs_model", obj, [path], {"summary_q": got, "model_mean_q": want}
            )
