"""Group scope (spec §6.1): the traces of one group (root spans sharing `group_by`, e.g. a session)
are scored together once the group is quiet — once; the score lands on the group's first root
span (`placement: first`) or on each (`each`); sampling is by group."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.app import in_process

from .test_online_engine import FAST, SERVICES, add_rule, events, log, scorer_spans, span, status, until


async def test_groups_are_scored_once_when_quiet(chdb_dsn: str, tmp_path: Path) -> None:
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring=FAST) as ll:
        pid = await ll.make_project()
        group = {"type": "group", "group_by": "metadata.session_id", "idle_seconds": 1}
        first = await add_rule(
            ll, pid, "first", scope=group, scorers=[{"type": "global", "name": "ExactMatch"}]
        )
        each = await add_rule(ll, pid, "each", scope={**group, "placement": "each"})
        rows = [
            span(pid, "a1", "a1", metadata={"session_id": "s1"}),
            span(pid, "a2", "a2", metadata={"session_id": "s1"}),
            span(pid, "a3", "a3", metadata={"session_id": "s1"}),
            span(pid, "b1", "b1", metadata={"session_id": "s2"}),
            span(pid, "b2", "b2", output="other", metadata={"session_id": "s2"}),
            span(pid, "c1", "c1"),  # in no group
        ]
        await log(ll, rows)
        st = await until(ll, first, 2)
        assert st["counters"]["scored"] == 2 and st["counters"]["errors"] == 0, st
        assert (await until(ll, each, 2))["counters"]["scored"] == 2
        by_id = {e["id"]: e for e in await events(ll, pid)}
        # ExactMatch over the group's outputs and expected values (lists, oldest first)
        assert by_id["row-a1"]["scores"]["ExactMatch"] == 1.0
        assert by_id["row-b1"]["scores"]["ExactMatch"] == 0.0
        # placement first: only the first root; each: every root of the group
        assert "ExactMatch" not in (by_id["row-a2"].get("scores") or {})
        assert all("Levenshtein" in by_id[f"row-{r}"]["scores"] for r in ("a1", "a2", "a3", "b1", "b2"))
        assert not by_id["row-c1"].get("scores")
        spans = scorer_spans(list(by_id.values()))
        assert len(spans) == 4 and {s["span_parents"][0] for s in spans} == {"a1", "b1"}
        # a trace joining a scored group later does not score it again
        await log(ll, [span(pid, "a4", "a4", metadata={"session_id": "s1"})])
        await asyncio.sleep(2.5)
        assert (await status(ll, first))["counters"]["scored"] == 2
        assert (await status(ll, each))["counters"]["scored"] == 2
