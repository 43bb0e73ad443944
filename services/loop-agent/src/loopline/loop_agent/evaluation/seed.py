"""A seeded project for the loop agent's tests and its evaluation harness: traces of a support bot
over two weeks, written through the real write path (`/logs3`), with known errors, intents, tool
calls and outliers.

`SeedRows` keeps what was written so a test computes each expected answer itself, in Python,
independently of the BTQL the analyses run."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from httpx import AsyncClient

INTENTS = ("refund", "password_reset", "billing", "shipping")
TOOLS = ("lookup_order", "search_docs", "send_email")
LLM_ERRORS = {
    "rate_limit": "Error code: 429 - Rate limit reached for gpt-4o in organization org-x on requests per min",
    "quota": "Error code: 429 - You exceeded your current quota, please check your plan and billing details (insufficient_quota)",
    "overload": "Error code: 529 - {'type': 'overloaded_error', 'message': 'Overloaded'}",
    "api_failure": "Error code: 500 - The server had an error while processing your request",
    "context_overflow": "Error code: 400 - This model's maximum context length is 128000 tokens (context_length_exceeded)",
}


@dataclass
class SeedRows:
    project_id: str
    now: datetime
    rows: list[dict[str, Any]] = field(default_factory=list)

    def spans(self, days: float | None = None, *, before_days: float | None = None) -> list[dict[str, Any]]:
        """Spans created within the last `days` (and more than `before_days` ago)."""
        out = []
        for r in self.rows:
            age = (self.now - datetime.fromisoformat(r["created"])).total_seconds() / 86400
            if days is not None and age >= days:
                continue
            if before_days is not None and age < before_days:
                continue
            out.append(r)
        return out


def _span(
    pid: str, trace: str, sid: str, parent: str | None, name: str, kind: str, created: datetime, **extra: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": sid,
        "project_id": pid,
        "log_id": "g",
        "span_id": sid,
        "root_span_id": trace,
        "created": created.isoformat(),
        "span_attributes": {"name": name, "type": kind},
        **extra,
    }
    if parent is not None:
        row["span_parents"] = [parent]
    return row


def build_rows(pid: str, now: datetime, traces: int = 160, seed: int = 7) -> SeedRows:
    """`traces` support-bot traces spread over the last 14 days; the second week has more
    `lookup_order` failures than the first, and a few huge-latency/huge-token LLM calls."""
    rnd = random.Random(seed)
    out = SeedRows(pid, now)
    for t in range(traces):
        age = timedelta(days=14 * (t + 0.5) / traces)
        created = now - age
        this_week = age < timedelta(days=7)
        trace = f"t{t:04d}"
        intent = INTENTS[t % len(INTENTS)] if t % 10 != 9 else None  # some traces never classified
        root_extra: dict[str, Any] = {"input": {"question": f"question {t}"}, "output": "answer"}
        if intent is not None:
            root_extra["classifications"] = {"Intent": [{"id": intent, "label": intent, "confidence": 0.9}]}
        out.rows.append(_span(pid, trace, trace, None, "support_bot", "task", created, **root_extra))
        # the LLM call
        latency = rnd.uniform(0.5, 2.0) if t % 37 != 5 else 40.0 + t / 10
        tokens = rnd.randint(300, 900) if t % 41 != 3 else 50_000 + t
        llm: dict[str, Any] = {
            "metadata": {
                "model": "gpt-4o" if t % 2 else "claude-3-5-sonnet",
                "provider": "openai" if t % 2 else "anthropic",
            },
            "metrics": {
                "start": created.timestamp(),
                "end": created.timestamp() + latency,
                "tokens": tokens,
                "prompt_tokens": tokens - 100,
                "completion_tokens": 100,
            },
        }
        kinds = list(LLM_ERRORS)
        if t % 8 == 3:
            llm["error"] = LLM_ERRORS[kinds[(t // 8) % len(kinds)]]
        out.rows.append(_span(pid, trace, f"{trace}-llm", trace, "llm.chat", "llm", created, **llm))
        # tool calls: lookup_order fails 1 in 10 last week, 1 in 4 this week; search_docs 1 in 20
        for j, tool in enumerate(TOOLS[: 1 + t % 3]):
            fail_every = {"lookup_order": 4 if this_week else 10, "search_docs": 20, "send_email": 1000}[tool]
            tool_row: dict[str, Any] = {
                "input": {"tool": tool},
                "metrics": {"start": created.timestamp(), "end": created.timestamp() + 0.1},
            }
            if (t + j) % fail_every == 0:
                tool_row["error"] = f"{tool} failed: upstream timeout"
            out.rows.append(_span(pid, trace, f"{trace}-{tool}", trace, tool, "tool", created, **tool_row))
    return out


async def seed_project(
    client: AsyncClient, headers: dict[str, str], name: str, now: datetime | None = None, traces: int = 160
) -> SeedRows:
    """Create project `name` and write the seed's rows into its logs through `/logs3`."""
    r = await client.post("/v1/project", json={"name": name}, headers=headers)
    assert r.status_code == 200, r.text
    pid = str(r.json()["id"])
    seeded = build_rows(pid, now or datetime.now(UTC), traces)
    for i in range(0, len(seeded.rows), 500):
        r = await client.post(
            "/logs3", content=orjson.dumps({"rows": seeded.rows[i : i + 500]}), headers=headers
        )
        assert r.status_code == 200, r.text
    return seeded


# -- answers computed from the rows, in Python -------------------------------------------------


def _errored(r: dict[str, Any]) -> bool:
    return bool(r.get("error"))


def _name(r: dict[str, Any]) -> str:
    return str(r["span_attributes"]["name"])


def _type(r: dict[str, Any]) -> str:
    return str(r["span_attributes"]["type"])


def _intent(r: dict[str, Any]) -> str | None:
    c = r.get("classifications")
    return c["Intent"][0]["label"] if c else None


def expected_errors_by_name(s: SeedRows, days: int = 7) -> list[tuple[str, int, int, float]]:
    """(name, spans, errors, blast radius) of names with errors, biggest blast radius first."""
    spans = s.spans(days)
    total: dict[str, int] = {}
    errors: dict[str, int] = {}
    for r in spans:
        total[_name(r)] = total.get(_name(r), 0) + 1
        errors[_name(r)] = errors.get(_name(r), 0) + _errored(r)
    out = [(n, total[n], errors[n], errors[n] / total[n] * total[n] / len(spans)) for n in total if errors[n]]
    return sorted(out, key=lambda x: (-x[3], -x[2] / x[1], x[0]))


def expected_errors_by_intent(s: SeedRows, days: int = 7) -> dict[str, tuple[int, int]]:
    """intent → (traces, traces with an error in any span)."""
    spans = s.spans(days)
    failed = {r["root_span_id"] for r in spans if _errored(r)}
    out: dict[str, tuple[int, int]] = {}
    for r in spans:
        if r["id"] == r["root_span_id"] and _intent(r) is not None:
            n, f = out.get(_intent(r) or "", (0, 0))
            out[_intent(r) or ""] = (n + 1, f + (r["root_span_id"] in failed))
    return out


def expected_tool_success(s: SeedRows, days: int = 7) -> dict[str, dict[str, tuple[int, int]]]:
    """tool → {"current": (calls, failures), "previous": (calls, failures)}."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for period, rows in (("current", s.spans(days)), ("previous", s.spans(2 * days, before_days=days))):
        for r in rows:
            if _type(r) != "tool":
                continue
            cell = out.setdefault(_name(r), {"current": (0, 0), "previous": (0, 0)})
            calls, fails = cell[period]
            cell[period] = (calls + 1, fails + _errored(r))
    return out


def error_kind(text: str) -> str | None:
    """The seed's kind of an LLM error text (None for tool errors)."""
    return next((k for k, v in LLM_ERRORS.items() if v == text), None)


def expected_provider_errors(s: SeedRows, days: int = 7) -> dict[str, int]:
    counts = dict.fromkeys(LLM_ERRORS, 0)
    for r in s.spans(days):
        if _type(r) == "llm" and _errored(r):
            counts[error_kind(r["error"]) or "?"] += 1
    return counts


def expected_overflows(s: SeedRows, days: int = 7) -> list[dict[str, Any]]:
    return [r for r in s.spans(days) if _errored(r) and error_kind(str(r["error"])) == "context_overflow"]


def expected_outliers(s: SeedRows, metric: str, factor: float, days: int = 7) -> tuple[float, list[str]]:
    """(mean, ids of spans above factor x mean, biggest first)."""
    values: list[tuple[float, str]] = []
    for r in s.spans(days):
        m = r.get("metrics")
        if not m:
            continue
        if metric == "latency" and "end" in m:
            values.append((m["end"] - m["start"], r["id"]))
        elif metric == "tokens" and "tokens" in m:
            values.append((float(m["tokens"]), r["id"]))
    mean = sum(v for v, _ in values) / len(values)
    return mean, [i for v, i in sorted(values, reverse=True) if v > factor * mean]


def expected_intents(s: SeedRows, days: int = 7) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for period, rows in (("current", s.spans(days)), ("previous", s.spans(2 * days, before_days=days))):
        for r in rows:
            if r["id"] == r["root_span_id"] and _intent(r) is not None:
                c = out.setdefault(_intent(r) or "", {"current": 0, "previous": 0})
                c[period] += 1
    return out
