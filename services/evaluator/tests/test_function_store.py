"""FunctionStore: one object per slug under concurrent creates, versions that ascend even when
another process's clock is behind, and reads as of a version."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from loopline.common.auth import Principal
from loopline.common.messages.eval_jobs import FunctionRef
from loopline.common.service import ServiceStates
from loopline.common.xact import XactIdGenerator
from loopline.evaluator.functions.store import Filters, FunctionStore, Page
from loopline.evaluator.state import State

from tests.support.app import ALL, InProcess, in_process

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ll(chdb_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path_factory.mktemp("fn-store"), (*ALL, "evaluator")) as p:
        yield p


def functions(ll: InProcess) -> FunctionStore:
    states: ServiceStates = ll.app.state.services
    return states.get(State).functions


def scorer(slug: str, model: str = "m1") -> dict[str, Any]:
    return {
        "name": slug,
        "slug": slug,
        "function_type": "scorer",
        "prompt_data": {
            "prompt": {"type": "completion", "content": "Is {{output}} right? Y/N"},
            "options": {"model": model},
            "parser": {"type": "llm_classifier", "use_cot": False, "choice_scores": {"Y": 1, "N": 0}},
        },
    }


async def test_concurrent_creates_of_one_slug_make_one_object(ll: InProcess) -> None:
    fs = functions(ll)
    me = Principal(org_id=ll.org_id)
    pid = await ll.make_project()
    made = await asyncio.gather(*(fs.create(me, pid, scorer("judge")) for _ in range(8)))
    assert len({rec.id for rec, _ in made}) == 1
    assert sorted(found for _, found in made) == [False] + [True] * 7
    replaced = await asyncio.gather(
        *(fs.create(me, pid, scorer("judge", f"m{i}"), if_exists="replace") for i in range(4))
    )
    assert len({rec.id for rec, _ in replaced}) == 1
    assert len({rec.xact_id for rec, _ in replaced}) == 4  # four versions, none lost
    listed = await fs.find(ll.org_id, Filters(project_id=pid))
    assert [r.slug for r in listed] == ["judge"]


async def test_two_processes_creating_one_slug_end_with_one_object(ll: InProcess) -> None:
    one = functions(ll)
    other = FunctionStore(one.store, one.control_plane, one.xact)  # its own locks, like a second process
    me = Principal(org_id=ll.org_id)
    pid = await ll.make_project()
    made = await asyncio.gather(
        *(store.create(me, pid, scorer("racy")) for _ in range(3) for store in (one, other))
    )
    assert len({rec.id for rec, _ in made}) == 1
    listed = await one.find(ll.org_id, Filters(project_id=pid))
    assert [(r.slug, r.id) for r in listed] == [("racy", made[0][0].id)]


async def test_versions_ascend_when_another_writer_is_behind(ll: InProcess) -> None:
    ahead = functions(ll)
    me = Principal(org_id=ll.org_id)
    pid = await ll.make_project()
    first, _ = await ahead.create(me, pid, scorer("s"))
    # a second process whose clock is an hour behind writes the next version
    behind = FunctionStore(
        ahead.store, ahead.control_plane, XactIdGenerator(clock=lambda: 1_780_000_000.0 - 3600)
    )
    second, found = await behind.create(me, pid, scorer("s", "m2"), if_exists="replace")
    assert found and second.id == first.id and int(second.xact_id) > int(first.xact_id)
    patched = await behind.patch(me, first.id, {"description": "third"})
    assert int(patched.xact_id) > int(second.xact_id)
    latest = await ahead.get(ll.org_id, first.id)
    assert latest.xact_id == patched.xact_id and latest.description == "third"
    # each version as it was, through resolve as the runner reads it
    at_first = await ahead.resolve(me, FunctionRef(function_id=first.id, version=first.xact_id))
    assert at_first.prompt_data is not None and at_first.prompt_data["options"]["model"] == "m1"
    at_second = await ahead.resolve(me, FunctionRef(function_id=first.id, version=second.xact_id))
    assert at_second.prompt_data is not None and at_second.prompt_data["options"]["model"] == "m2"
    assert at_second.description is None


async def test_paging_walks_every_object_once(ll: InProcess) -> None:
    fs = functions(ll)
    me = Principal(org_id=ll.org_id)
    pid = await ll.make_project()
    for i in range(7):
        await fs.create(me, pid, scorer(f"s{i}"))
    seen: list[str] = []
    cursor = None
    while True:
        page = await fs.find(ll.org_id, Filters(project_id=pid), Page(3, starting_after=cursor))
        if not page:
            break
        seen += [r.slug for r in page]
        cursor = page[-1].id
    assert seen == [f"s{i}" for i in reversed(range(7))]
    newest_two = await fs.find(ll.org_id, Filters(project_id=pid), Page(2))
    before = await fs.find(ll.org_id, Filters(project_id=pid), Page(10, ending_before=newest_two[-1].id))
    assert [r.slug for r in before] == ["s6"]
