"""One running turn per conversation across loop-agent processes over one store: two apps over the
same database stand for two replicas; the scripted model answers slowly so a turn is running."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from loopline.loop_agent.turn_claims import Held, TurnClaims, TurnLost, TurnRunning

from tests.support.app import InProcess, in_process
from tests.support.llm_server import Reply, ScriptedLLM
from tests.support.loop_chat import agent_settings, new_conversation, turn

SERVICES = ("gateway", "query", "loop-agent")


async def _wait_for_model_call(llm: ScriptedLLM, n: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(llm.requests_to("/v1/chat/completions")) < n:
        assert time.monotonic() < deadline, "the turn never called the model"
        await asyncio.sleep(0.02)


async def _post(ll: InProcess, cid: str, what: str, **body: object) -> tuple[int, dict[str, object], str]:
    r = await ll.client.post(f"/v1/loop/conversations/{cid}/{what}", json=body, headers=ll.headers)
    return r.status_code, r.json() if r.status_code != 200 else {}, r.headers.get("retry-after", "")


async def test_a_turn_running_in_another_process_refuses_the_second_and_never_interleaves(
    chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    """A's turn waits 2.4 s for its model, longer than the 0.9 s lease (renewed meanwhile): a message,
    a confirm and a continue sent to B are refused at once with 409 and never reach the model;
    after A's turn ends, B's turn runs and the stored messages are the two turns', in order."""
    section = agent_settings(scripted_llm, turn_lease_s=0.9)
    async with in_process(chdb_dsn, tmp_path / "a", SERVICES, loop_agent=section) as a:
        database, key = a.ctx.settings.database, a.api_key
        async with in_process(
            chdb_dsn, tmp_path / "b", SERVICES, database=database, bootstrap_api_key=key, loop_agent=section
        ) as b:
            cid = await new_conversation(a)
            scripted_llm.push(Reply("first answer", delay_s=2.4))
            first = asyncio.ensure_future(turn(a, cid, content="first question"))
            await _wait_for_model_call(scripted_llm, 1)
            await asyncio.sleep(1.0)  # past the first lease: only its renewals hold the conversation
            for what, body in (
                ("messages", {"content": "second question"}),
                ("confirm", {"call_id": "c1", "approve": True}),
                ("continue", {}),
            ):
                t0 = time.monotonic()
                status, answer, retry_after = await _post(b, cid, what, **body)
                assert status == 409, (what, answer)
                assert "a turn of this conversation is running: retry after it ends" in str(answer), answer
                assert retry_after == "1" and time.monotonic() - t0 < 1.0
            status, _, _ = await _post(a, cid, "messages", content="again, here")  # this process's lock
            assert status == 409
            assert not first.done()
            events = await first
            assert events[-1].data["status"] == "complete"
            assert len(scripted_llm.requests_to("/v1/chat/completions")) == 1  # the refused never ran

            scripted_llm.push(Reply("second answer"))
            events = await turn(b, cid, content="second question")
            assert events[-1].data["status"] == "complete"
            conv = (await b.client.get(f"/v1/loop/conversations/{cid}", headers=b.headers)).json()
            assert [(m["role"], m["content"]) for m in conv["messages"]] == [
                ("user", "first question"),
                ("assistant", "first answer"),
                ("user", "second question"),
                ("assistant", "second answer"),
            ]
            # B's model saw A's turn: one conversation, not two interleaved ones
            seen = scripted_llm.requests_to("/v1/chat/completions")[-1].messages
            assert [m.get("content") for m in seen[1:]] == [
                "first question",
                "first answer",
                "second question",
            ]


async def test_a_dead_process_blocks_its_conversation_only_until_its_lease_expires(
    chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    """A process killed mid-turn (kill -9) leaves its claim live and unreleased, and renews it no
    more: the conversation is refused until the claim's lease ends, then a turn runs."""
    section = agent_settings(scripted_llm, turn_lease_s=1.5)
    async with in_process(chdb_dsn, tmp_path, SERVICES, loop_agent=section) as ll:
        cid = await new_conversation(ll)
        dead = TurnClaims(ll.ctx.require_store(), lease_s=1.5, settle_s=0, owner="killed")
        held = await dead.claim(ll.org_id, cid)
        assert held._renewing is not None
        held._renewing.cancel()  # what kill -9 leaves: the claim's row, no renewal, no release
        status, answer, _ = await _post(ll, cid, "messages", content="hello?")
        assert status == 409, answer
        await asyncio.sleep(max(0.0, held.until - time.time()) + 0.05)  # the lease ends
        scripted_llm.push(Reply("back"))
        events = await turn(ll, cid, content="hello again")
        assert events[-1].data["status"] == "complete"
        assert not scripted_llm.requests_to("/v1/chat/completions")[0].messages[1:-1]  # no "hello?"


@pytest.mark.parametrize("settle_s", [0.0, 0.05])
async def test_claims_made_at_once_never_both_win(chdb_dsn: str, tmp_path: Path, settle_s: float) -> None:
    """Rounds of six simultaneous claims of one conversation from three processes' claim stores:
    at most one wins each round; once it is released, the next claim wins."""
    async with in_process(chdb_dsn, tmp_path, ("gateway", "loop-agent")) as ll:
        store = ll.ctx.require_store()
        processes = [TurnClaims(store, lease_s=30, settle_s=settle_s, owner=f"p{i}") for i in range(3)]
        for round_ in range(5):
            cid = f"conv-{round_}"
            got = await asyncio.gather(
                *(p.claim(ll.org_id, cid) for p in processes * 2), return_exceptions=True
            )
            won = [g for g in got if isinstance(g, Held)]
            assert len(won) <= 1 and all(isinstance(g, (Held, TurnRunning)) for g in got), got
            for w in won:
                await w.release()
            again = await processes[round_ % 3].claim(ll.org_id, cid)
            with pytest.raises(TurnRunning):
                await processes[(round_ + 1) % 3].claim(ll.org_id, cid)
            await again.release()
            assert await processes[0].live(ll.org_id, cid) == []


async def test_a_turn_that_lost_its_lease_stops_before_writing(chdb_dsn: str, tmp_path: Path) -> None:
    async with in_process(chdb_dsn, tmp_path, ("gateway", "loop-agent")) as ll:
        claims = TurnClaims(ll.ctx.require_store(), lease_s=30, settle_s=0)
        held = await claims.claim(ll.org_id, "c")
        held.check()
        held.until = time.time() - 0.01  # renewals failed for a whole lease
        with pytest.raises(TurnLost, match="lost its hold"):
            held.check()
        await held.release()
