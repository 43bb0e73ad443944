"""The events a turn streams, and their SSE encoding.

`text_delta` {text} · `tool_call_start` {call_id, name, arguments} · `tool_result` {call_id, name,
ok, summary, rows_touched} · `confirmation_required` {call_id, name, arguments, preview} ·
`choose` {kind, options} (the user is asked to pick, e.g. a data source) · `page_update` {field:
value} (a change of the page in view, e.g. the playground's scorers) · `error` {message,
kind, provider?, model?} · `budget_exhausted` {iterations} · `done` {status, iterations, usage}
where status is complete | awaiting_confirmation | budget_exhausted | error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any]

    def sse(self) -> bytes:
        return b"event: " + self.type.encode() + b"\ndata: " + orjson.dumps(self.data) + b"\n\n"


def parse_sse(text: str) -> list[Event]:
    """Events of an SSE body (for clients and tests)."""
    out = []
    for block in text.split("\n\n"):
        name, data = "", ""
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
        if name:
            out.append(Event(name, orjson.loads(data) if data else {}))
    return out
