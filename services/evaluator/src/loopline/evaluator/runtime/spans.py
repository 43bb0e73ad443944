"""Spans the evaluator writes (invocations, their model calls, eval rows, scores), published as
ordinary `RowWrite`s on `loopline.rows` — the writer stores them like rows the SDK logged.

    writer = SpanWriter(bus, xact)
    target = await resolve_parent(control_plane, principal, decode_parent(body["parent"]))
    span = writer.start(target, "my-fn", "function", input=..., key=("exp", row_id, "task"))
    llm = span.child("Chat Completion", "llm")
    ...; span.finish(output=...); llm.finish(...)
    await writer.write([span, llm])

A span's ids: `id` (the row id), `span_id`, `root_span_id`, `span_parents` (the parent span).
Under a target that carries a parent span the new span is its child, in its trace; otherwise it
is a root. `key=` makes every id a function of the key (uuid5), so a retried write of the same
logical span is the same row (the writer folds it) — what an eval job redelivery needs.
A target's `propagated_event` (e.g. `span_attributes.purpose = "scorer"`) is merged into every
span written under it, as the SDK does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loopline.common.auth import Principal
from loopline.common.bus import Bus
from loopline.common.control_plane import ControlPlane, ControlPlaneRefused
from loopline.common.errors import Invalid, NotFound, Unavailable
from loopline.common.messages import rows as rows_topic
from loopline.common.messages.rows import RowWrite
from loopline.common.object_types import EXPERIMENT, PROJECT_LOGS, stored_object_id
from loopline.common.rows import format_created, validate_row
from loopline.common.store import StoreError
from loopline.common.xact import XactIdGenerator
from loopline.evaluator.runtime.parents import SpanParent

ID_NAMESPACE = uuid.UUID("6f1d2b9e-5a3c-4e8f-9d7a-1c2b3a4d5e6f")


def deterministic_id(*key: object) -> str:
    """A stable id for a logical span: the same key gives the same id."""
    return str(uuid.uuid5(ID_NAMESPACE, "\x1f".join(str(k) for k in key)))


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


@dataclass(frozen=True)
class SpanTarget:
    """Where spans go: an experiment or a project's logs of an org, and the span (if any) the
    new spans hang under."""

    org_id: str
    project_id: str
    object_type: str  # experiment | project_logs
    object_id: str  # the experiment id, or the project id for project logs
    parent_span_id: str | None = None
    root_span_id: str | None = None
    propagated_event: dict[str, Any] | None = None

    def id_fields(self) -> dict[str, str]:
        if self.object_type == EXPERIMENT:
            return {"experiment_id": self.object_id}
        return {"project_id": self.object_id, "log_id": "g"}

    def under(self, span: Span) -> SpanTarget:
        """The same object, with `span` as the parent."""
        return SpanTarget(
            self.org_id,
            self.project_id,
            self.object_type,
            self.object_id,
            span.span_id,
            span.root_span_id,
            self.propagated_event,
        )


@dataclass
class Span:
    target: SpanTarget
    id: str
    span_id: str
    root_span_id: str
    span_parents: list[str] | None
    name: str
    type: str
    start: float
    input: Any = None
    output: Any = None
    expected: Any = None
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    scores: dict[str, float | None] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    tags: list[str] | None = None
    end: float | None = None

    def child(self, name: str, type: str, *, key: tuple[object, ...] | None = None, **fields: Any) -> Span:
        return _new(self.target.under(self), name, type, key, fields)

    def finish(self, **fields: Any) -> Span:
        for k, v in fields.items():
            setattr(self, k, v)
        if self.end is None:
            self.end = time.time()
        return self

    def row(self) -> dict[str, Any]:
        attrs = {"name": self.name, "type": self.type, **self.attributes}
        metrics = {"start": self.start, **({"end": self.end} if self.end is not None else {}), **self.metrics}
        row: dict[str, Any] = {
            **self.target.id_fields(),
            "id": self.id,
            "span_id": self.span_id,
            "root_span_id": self.root_span_id,
            "created": format_created_ts(self.start),
            "span_attributes": attrs,
            "input": self.input,
            "output": self.output,
            "metadata": self.metadata or None,
            "metrics": metrics,
        }
        if self.span_parents:
            row["span_parents"] = self.span_parents
        if self.expected is not None:
            row["expected"] = self.expected
        if self.error is not None:
            row["error"] = self.error
        if self.scores is not None:
            row["scores"] = self.scores
        if self.tags:
            row["tags"] = self.tags
        return propagate(row, self.target.propagated_event)


def propagate(row: dict[str, Any], event: dict[str, Any] | None) -> dict[str, Any]:
    """The row with a parent's `propagated_event` merged in (never its ids), as the SDK does."""
    if not event:
        return row
    return _merge(row, {k: v for k, v in event.items() if k not in ("id", "span_id", "root_span_id")})


def format_created_ts(ts: float) -> str:
    from datetime import UTC, datetime

    return format_created(datetime.fromtimestamp(ts, UTC))


def _new(
    target: SpanTarget, name: str, type: str, key: tuple[object, ...] | None, fields: dict[str, Any]
) -> Span:
    if key is not None:
        row_id = deterministic_id(*key)
        span_id = deterministic_id(*key, "span")
    else:
        row_id, span_id = str(uuid.uuid4()), str(uuid.uuid4())
    parent = target.parent_span_id
    start = float(fields.pop("start", None) or time.time())
    return Span(
        target=target,
        id=row_id,
        span_id=span_id,
        root_span_id=(target.root_span_id or span_id) if parent else span_id,
        span_parents=[parent] if parent else None,
        name=name,
        type=type,
        start=start,
        **fields,
    )


class SpanWriter:
    """Builds spans and publishes them as row writes on `loopline.rows`."""

    def __init__(self, bus: Bus, xact: XactIdGenerator) -> None:
        self.bus = bus
        self.xact = xact

    def start(
        self,
        target: SpanTarget,
        name: str,
        type: str,
        *,
        key: tuple[object, ...] | None = None,
        **fields: Any,
    ) -> Span:
        """A new span under `target` (its parent span, or a root); `key` → deterministic ids."""
        return _new(target, name, type, key, fields)

    async def write(self, spans: Sequence[Span]) -> None:
        await self.publish_rows([(s.target, s.row()) for s in spans])

    async def publish_rows(self, rows: Sequence[tuple[SpanTarget, dict[str, Any]]]) -> None:
        """Publish rows (full or `_is_merge`) to their targets, validated like ingest does."""
        out = []
        for i, (target, raw) in enumerate(rows):
            v = validate_row(raw, f"spans[{i}]")
            out.append(
                rows_topic.CONTRACT.out(
                    RowWrite(
                        target.org_id,
                        target.project_id,
                        v.object_type,
                        stored_object_id(v.object_type, v.object_id),
                        self.xact.next(),
                        v.row,
                    )
                )
            )
        if out:
            await self.bus.publish(rows_topic.TOPIC, out)


async def resolve_parent(control_plane: ControlPlane, principal: Principal, parent: SpanParent) -> SpanTarget:
    """The org's object a decoded parent names (NotFound if it is not the caller's org's)."""
    org = principal.org_id
    try:
        if parent.object_type == EXPERIMENT:
            if parent.object_id is None:
                raise Invalid("parent: an experiment parent needs its object_id", field="parent")
            project_id = await control_plane.project_of(org, EXPERIMENT, parent.object_id)
            if project_id is None:
                raise NotFound(f"parent: experiment {parent.object_id!r} does not exist in this organization")
            object_id = parent.object_id
        elif parent.object_type == PROJECT_LOGS:
            pid = parent.object_id or parent.project_id
            if pid is None:
                assert parent.project_name is not None
                try:
                    pid = await control_plane.project_id_by_name(principal, parent.project_name)
                except ControlPlaneRefused as exc:
                    raise Invalid(f"parent: project {parent.project_name!r}: {exc}", field="parent") from exc
            found = await control_plane.project_of(org, PROJECT_LOGS, pid)
            if found is None:
                raise NotFound(f"parent: project {pid!r} does not exist in this organization")
            project_id = object_id = found
        else:
            raise Invalid(
                f"parent: {parent.object_type} parents are not supported (experiment and project_logs are)",
                field="parent",
            )
    except StoreError as exc:
        raise Unavailable(f"cannot resolve the parent now: {exc}", retry_after=1) from exc
    return SpanTarget(
        org,
        project_id,
        parent.object_type,
        object_id,
        parent.span_id,
        parent.root_span_id,
        parent.propagated_event,
    )
