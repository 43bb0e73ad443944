"""Loop's evaluation harness: seed a project with known answers, ask Loop each question with a
given model (through Loopline's own API, as any client would), score the answers with autoevals'
heuristic scorers, and log the run as an experiment of the seeded project so models can be
compared side by side (`GET /v1/experiment/{id}/summarize`, the web app).

Runs against any Loopline whose loop agent can call the model (`loopline loop-eval --model M`),
or in-process in tests against the scripted LLM server."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from loopline.loop_agent.evaluation import seed
from loopline.loop_agent.evaluation.questions import Question, questions
from loopline.loop_agent.events import Event, parse_sse

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
BTQL_TOOLS = ("run_btql", "btql_query")


class HarnessError(Exception):
    """Loopline refused something the harness needs (a 4xx/5xx that is not the model's fault)."""


@dataclass
class Answer:
    text: str = ""
    status: str = ""
    tools: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] | None = None  # the rows of the last successful BTQL tool call
    usage: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Scored:
    question: Question
    answer: Answer
    score: float
    detail: str

    def row(self) -> dict[str, Any]:
        return {
            "id": self.question.id,
            "score": self.score,
            "detail": self.detail,
            "status": self.answer.status,
            "tools": self.answer.tools,
            "seconds": round(self.answer.seconds, 2),
        }


def _check(r: httpx.Response, what: str) -> None:
    if r.status_code != 200:
        raise HarnessError(f"{what}: HTTP {r.status_code}: {r.text[:500]}")


def _ok(r: httpx.Response, what: str) -> Any:
    _check(r, what)
    return r.json()


# -- scoring -------------------------------------------------------------------------------------


def score_number(q: Question, text: str) -> tuple[float, str]:
    from autoevals import NumericDiff

    stated = [float(n.replace(",", "")) for n in _NUMBER.findall(text) if n.strip("-,")]
    if not stated:
        return 0.0, "states no number"
    expected = float(q.expected)
    best = min(stated, key=lambda n: abs(abs(n) - expected))
    if abs(abs(best) - expected) <= q.tolerance:
        return 1.0, f"stated {best:g} (expected {expected:g})"
    score = NumericDiff()(output=abs(best), expected=expected).score
    return float(score or 0.0), f"closest stated {best:g}, expected {expected:g}"


def score_name(q: Question, text: str) -> tuple[float, str]:
    from autoevals import ExactMatch

    low = text.lower()
    found = [(low.find(c.lower()), c) for c in q.candidates if c.lower() in low]
    if not found:
        return 0.0, f"names none of {', '.join(q.candidates)}"
    first = min(found)[1]
    return float(ExactMatch()(output=first, expected=q.expected).score or 0.0), f"named {first!r} first"


def score_btql(q: Question, rows: list[dict[str, Any]] | None) -> tuple[float, str]:
    from autoevals import JSONDiff

    if rows is None:
        return 0.0, "ran no successful BTQL query"
    got = sorted(sorted(str(v) for v in r.values()) for r in rows)
    want = sorted(sorted([str(k), str(v)]) for k, v in q.expected.items())
    if got == want:
        return 1.0, "the query's rows match the reference"
    return float(JSONDiff()(output=got, expected=want).score or 0.0), f"rows differ: {got} vs {want}"


def score(q: Question, a: Answer) -> tuple[float, str]:
    if q.kind == "number":
        return score_number(q, a.text)
    if q.kind == "name":
        return score_name(q, a.text)
    return score_btql(q, a.rows)


# -- asking Loop ---------------------------------------------------------------------------------


class Loop:
    """A Loopline's Loop, through its HTTP API (a real URL, or an in-process ASGI client)."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str], model: str) -> None:
        self.client = client
        self.headers = headers
        self.model = model

    async def _turn(self, cid: str, what: str, body: dict[str, Any]) -> list[Event]:
        r = await self.client.post(
            f"/v1/loop/conversations/{cid}/{what}", json=body, headers=self.headers, timeout=600
        )
        _check(r, f"POST .../{what}")
        return parse_sse(r.text)

    async def ask(self, q: Question, project_id: str, *, continues: int = 2) -> Answer:
        r = await self.client.post(
            "/v1/loop/conversations",
            json={"model": self.model, "title": f"loop-eval {q.id}"},
            headers=self.headers,
        )
        cid = _ok(r, "POST /v1/loop/conversations")["id"]
        page = {"kind": "project_logs", "project_id": project_id}
        started = time.perf_counter()
        a = Answer()
        events = await self._turn(cid, "messages", {"content": q.text, "page": page})
        for _ in range(continues + 1):
            self._collect(a, events)
            if a.status == "budget_exhausted" and continues:
                events = await self._turn(cid, "continue", {"page": page})
            elif a.status == "awaiting_confirmation":  # the evaluation changes nothing
                call = next(e.data for e in reversed(events) if e.type == "confirmation_required")
                events = await self._turn(
                    cid, "confirm", {"call_id": call["call_id"], "approve": False, "page": page}
                )
            else:
                break
        a.seconds = time.perf_counter() - started
        a.rows = await self._last_rows(cid)
        return a

    @staticmethod
    def _collect(a: Answer, events: list[Event]) -> None:
        text = "".join(e.data.get("text", "") for e in events if e.type == "text_delta")
        if text:
            a.text = f"{a.text}\n{text}" if a.text else text
        a.tools += [e.data["name"] for e in events if e.type == "tool_call_start"]
        a.errors += [e.data.get("message", "") for e in events if e.type == "error"]
        done = next((e.data for e in events if e.type == "done"), {})
        a.status = str(done.get("status", "no done event"))
        for k, v in (done.get("usage") or {}).items():
            a.usage[k] = a.usage.get(k, 0) + v

    async def _last_rows(self, cid: str) -> list[dict[str, Any]] | None:
        """The rows of the conversation's last BTQL tool call that returned some (as the model saw them)."""
        r = await self.client.get(f"/v1/loop/conversations/{cid}", headers=self.headers)
        messages = _ok(r, "GET conversation")["messages"]
        names = {
            c["id"]: c["function"]["name"]
            for m in messages
            if m.get("role") == "assistant"
            for c in m.get("tool_calls") or []
        }
        for m in reversed(messages):
            if m.get("role") == "tool" and names.get(m.get("tool_call_id")) in BTQL_TOOLS:
                try:
                    out = orjson.loads(m["content"])
                except orjson.JSONDecodeError:
                    continue
                if isinstance(out, dict) and isinstance(out.get("rows"), list):
                    return list(out["rows"])
        return None


@dataclass
class Report:
    model: str
    project_id: str
    experiment_id: str | None
    scored: list[Scored]

    @property
    def mean(self) -> float:
        return sum(s.score for s in self.scored) / len(self.scored) if self.scored else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "project_id": self.project_id,
            "experiment_id": self.experiment_id,
            "score": round(self.mean, 4),
            "questions": [s.row() for s in self.scored],
        }

    def table(self) -> str:
        lines = [f"{'question':<24} {'score':>6}  {'seconds':>7}  detail"]
        for s in self.scored:
            lines.append(f"{s.question.id:<24} {s.score:>6.2f}  {s.answer.seconds:>7.1f}  {s.detail}")
        lines.append(f"{'mean':<24} {self.mean:>6.2f}   model {self.model}, project {self.project_id}")
        return "\n".join(lines)


async def log_experiment(
    client: httpx.AsyncClient, headers: dict[str, str], project_id: str, model: str, scored: list[Scored]
) -> str:
    name = f"loop-eval {model} {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
    exp = _ok(
        await client.post(
            "/v1/experiment",
            json={"project_id": project_id, "name": name, "metadata": {"model": model}},
            headers=headers,
        ),
        "POST /v1/experiment",
    )
    events = [
        {
            "input": s.question.text,
            "output": s.answer.text,
            "expected": s.question.expected,
            "scores": {"correct": s.score},
            "metadata": {
                "question_id": s.question.id,
                "kind": s.question.kind,
                "detail": s.detail,
                "status": s.answer.status,
                "tools": s.answer.tools,
                "errors": s.answer.errors,
            },
            "metrics": {
                "prompt_tokens": s.answer.usage.get("prompt_tokens", 0),
                "completion_tokens": s.answer.usage.get("completion_tokens", 0),
                "duration": s.answer.seconds,
            },
        }
        for s in scored
    ]
    _ok(
        await client.post(f"/v1/experiment/{exp['id']}/insert", json={"events": events}, headers=headers),
        "POST experiment insert",
    )
    return str(exp["id"])


async def run_loop_eval(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    model: str,
    *,
    only: tuple[str, ...] = (),
    traces: int = 160,
    log: bool = True,
) -> Report:
    """Seed a fresh project, ask every question (or those in `only`) with `model`, score them."""
    project = f"loop-eval {datetime.now(UTC):%Y%m%d-%H%M%S-%f}"
    rows = await seed.seed_project(client, headers, project, traces=traces)
    asked = [q for q in questions(rows) if not only or q.id in only]
    loop = Loop(client, headers, model)
    scored = []
    for q in asked:
        a = await loop.ask(q, rows.project_id)
        value, detail = score(q, a)
        scored.append(Scored(q, a, value, detail))
    exp = await log_experiment(client, headers, rows.project_id, model, scored) if log else None
    return Report(model, rows.project_id, exp, scored)
