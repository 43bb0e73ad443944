"""FunctionRunner: global autoevals scorers (in-process heuristics, model-graded ones through the
org's providers), LLM-judge prompts, prompt functions in every mode, streaming events, errors,
and the spans an invocation writes. The provider is the scripted LLM server."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import autoevals
import pytest
from loopline.common.auth import Principal
from loopline.common.bus.base import Message
from loopline.common.bus.memory import InProcessBus
from loopline.common.errors import Invalid, NotFound
from loopline.common.messages import rows as rows_topic
from loopline.common.messages.eval_jobs import FunctionRef
from loopline.common.store import Store
from loopline.common.xact import XactIdGenerator
from loopline.evaluator.ai_secrets import AiSecretStore
from loopline.evaluator.org_models import OrgModels
from loopline.evaluator.runtime.runner import FunctionRunner
from loopline.evaluator.runtime.spans import SpanTarget, SpanWriter
from loopline.evaluator.runtime.types import InlineFunction, InvokeEvent, ScorerArgs
from loopline.evaluator.secret_box import SecretBox

from tests.support.llm_server import Fail, Reply, ScriptedLLM, ToolCall


@pytest.fixture
async def models(
    store: Store, tmp_path: Path, scripted_llm: ScriptedLLM
) -> AsyncIterator[tuple[OrgModels, str]]:
    secrets = AiSecretStore(store, SecretBox.from_config("", tmp_path))
    org = str(uuid.uuid4())
    await secrets.create(
        org,
        {
            "name": "openai",
            "type": "openai",
            "secret": "sk-test-" + "x" * 20,
            "metadata": {"api_base": scripted_llm.openai_base_url, "max_attempts": 2},
        },
        "u1",
    )
    m = OrgModels(secrets)
    yield m, org
    await m.aclose()


@pytest.fixture
async def bus() -> AsyncIterator[InProcessBus]:
    b = InProcessBus()
    await b.start()
    yield b
    await b.stop()


def prompt_fn(messages: list[dict[str, Any]], **extra: Any) -> InlineFunction:
    return InlineFunction(
        name="my prompt",
        function_data={"type": "prompt"},
        prompt_data={
            "prompt": {"type": "chat", "messages": messages, **extra.pop("prompt", {})},
            "options": {"model": "gpt-4o-mini", "params": {"temperature": 0, "use_cache": True}},
            **extra,
        },
        id="f-1",
        project_id="p-1",
        slug="my-prompt",
    )


async def test_heuristic_scorers_match_autoevals(models: tuple[OrgModels, str]) -> None:
    m, org = models
    runner = FunctionRunner(m)
    who = Principal(org_id=org)
    cases = [
        ("Levenshtein", ScorerArgs(output="hello world", expected="hello there"), autoevals.Levenshtein()),
        ("ExactMatch", ScorerArgs(output={"a": 1}, expected={"a": 1}), autoevals.ExactMatch()),
        ("numeric_diff", ScorerArgs(output=3, expected=4), autoevals.NumericDiff()),
        (
            "JSONDiff",
            ScorerArgs(output={"a": 1, "b": "xy"}, expected={"a": 2, "b": "xz"}),
            autoevals.JSONDiff(),
        ),
    ]
    for name, args, reference in cases:
        [s] = await runner.score(who, FunctionRef(global_function=name), args)
        want = reference.eval(output=args.output, expected=args.expected)
        assert (s.name, s.score, s.error) == (want.name, want.score, None), name
    # a scorer failing on its input is that row's error, not an exception
    [bad] = await runner.score(
        who, FunctionRef(global_function="NumericDiff"), ScorerArgs(output="x", expected=1)
    )
    assert bad.score is None and bad.error and "NumericDiff" in bad.error
    with pytest.raises(NotFound, match=r"not a known scorer.*Levenshtein"):
        await runner.score(who, FunctionRef(global_function="Levenshtien"), ScorerArgs())


async def test_factuality_and_closedqa_through_the_orgs_provider(
    models: tuple[OrgModels, str], scripted_llm: ScriptedLLM
) -> None:
    m, org = models
    runner = FunctionRunner(m)
    who = Principal(org_id=org)
    scripted_llm.push(
        Reply(tool_calls=[ToolCall("select_choice", {"reasons": "Same facts.", "choice": "C"})])
    )
    [s] = await runner.score(
        who,
        FunctionRef(global_function="Factuality"),
        ScorerArgs(input="Capital of France?", output="Paris", expected="Paris"),
    )
    assert (s.name, s.score, s.metadata) == ("Factuality", 1.0, {"rationale": "Same facts.", "choice": "C"})
    (req,) = scripted_llm.requests_to("/v1/chat/completions")
    assert req.json["model"] == "gpt-4o-mini"  # the runtime's default judge model
    assert req.json["tool_choice"] == {"type": "function", "function": {"name": "select_choice"}}
    assert "[Submission]: Paris" in req.last_user_text and "Capital of France?" in req.last_user_text
    # the judge's model call rides on the score: an eval writes it as an llm span of the score span
    (call,) = s.calls
    assert call.model == "gpt-4o-mini" and call.input == req.json["messages"] and call.usage is not None
    scripted_llm.push(Reply(tool_calls=[ToolCall("select_choice", {"reasons": "No.", "choice": "N"})]))
    [qa] = await runner.score(
        who,
        FunctionRef(global_function="ClosedQA"),
        ScorerArgs(
            input="Name a city", output="turtles", extra={"criteria": "Is it a city?", "model": "gpt-4o"}
        ),
    )
    assert (qa.name, qa.score, qa.metadata["choice"]) == ("ClosedQA", 0.0, "N")
    second = scripted_llm.requests_to("/v1/chat/completions")[-1]
    assert second.json["model"] == "gpt-4o" and "Is it a city?" in second.last_user_text
    assert [c.model for c in qa.calls] == ["gpt-4o"]
    # the provider keeps failing: the score carries the error naming provider and model
    scripted_llm.push(Fail(500, "upstream exploded"), Fail(500, "upstream exploded"))
    [failed] = await runner.score(
        who, FunctionRef(global_function="Factuality"), ScorerArgs(output="a", expected="b")
    )
    assert failed.score is None and failed.error is not None
    assert "provider 'openai'" in failed.error and "upstream exploded" in failed.error
    # an answer without a choice is an error too
    scripted_llm.push(Reply("I think it is fine"))
    [vague] = await runner.score(
        who, FunctionRef(global_function="Factuality"), ScorerArgs(output="a", expected="b")
    )
    assert vague.score is None and "made no choice" in str(vague.error)


async def test_llm_judge_prompt_with_choice_scores(
    models: tuple[OrgModels, str], scripted_llm: ScriptedLLM
) -> None:
    m, org = models
    runner = FunctionRunner(m)
    judge = InlineFunction(
        name="Is Polite",
        function_data={"type": "prompt"},
        function_type="scorer",
        prompt_data={
            "prompt": {
                "type": "chat",
                "messages": [{"role": "user", "content": "Is this polite? {{output}}"}],
            },
            "options": {"model": "gpt-4o-mini"},
            "parser": {"type": "llm_classifier", "use_cot": True, "choice_scores": {"Y": 1, "N": 0}},
        },
    )
    scripted_llm.push(
        Reply(tool_calls=[ToolCall("select_choice", {"reasons": "Says please.", "choice": "Y"})])
    )
    result = await runner.run(
        Principal(org_id=org), judge, {"input": "q", "output": "please sit", "expected": None, "metadata": {}}
    )
    assert result.error is None
    assert result.output == {
        "name": "Is Polite",
        "score": 1.0,
        "metadata": {"rationale": "Says please.", "choice": "Y"},
    }
    req = scripted_llm.requests_to("/v1/chat/completions")[-1]
    assert req.last_user_text == "Is this polite? please sit"
    assert req.json["tools"][0]["function"]["parameters"]["properties"]["choice"]["enum"] == ["Y", "N"]
    assert result.usage["tokens"] > 0
    # a judge that cannot score answers with the status of why: the provider's, or 400 with no provider
    args = {"input": "q", "output": "x", "expected": None, "metadata": {}}
    scripted_llm.push(Fail(503, "overloaded"), Fail(503, "overloaded"))
    failed = await runner.run(Principal(org_id=org), judge, args)
    assert failed.error_status == 502 and "overloaded" in str(failed.error)
    nobody = await runner.run(Principal(org_id="org-without-providers"), judge, args)
    assert nobody.error_status == 400 and "POST /v1/ai_secret" in str(nobody.error)


async def test_prompt_function_modes_and_errors(
    models: tuple[OrgModels, str], scripted_llm: ScriptedLLM
) -> None:
    m, org = models
    runner = FunctionRunner(m)
    who = Principal(org_id=org)
    fn = prompt_fn(
        [
            {"role": "system", "content": "You answer for {{metadata.user}}."},
            {"role": "user", "content": "Q: {{input.question}} {{input}}"},
        ]
    )
    scripted_llm.push(Reply("four", usage=(7, 1)))
    r = await runner.run(who, fn, {"question": "2+2?"}, metadata={"user": "ann"})
    assert (r.output, r.error) == ("four", None)
    assert r.usage["prompt_tokens"] == 7 and r.usage["completion_tokens"] == 1
    req = scripted_llm.requests_to("/v1/chat/completions")[-1]
    assert req.json["messages"][0]["content"] == "You answer for ann."
    assert req.json["messages"][1]["content"] == 'Q: 2+2? {"question": "2+2?"}'
    assert req.json["temperature"] == 0 and "use_cache" not in req.json
    # strict: a missing variable is the caller's error (400), and no model call is made
    before = len(scripted_llm.requests)
    r = await runner.run(who, fn, {"other": 1}, metadata={"user": "bo"}, strict=True)
    assert r.error_status == 400 and "input.question" in str(r.error)
    assert len(scripted_llm.requests) == before
    # json mode parses the text; auto on a tool call gives its arguments; parallel gives all
    scripted_llm.push(Reply('{"answer": 4}'))
    assert (await runner.run(who, fn, {"question": "x"}, mode="json")).output == {"answer": 4}
    scripted_llm.push(Reply("not json"))
    r = await runner.run(who, fn, {"question": "x"}, mode="json")
    assert r.error_status == 422 and "not JSON" in str(r.error)
    tools = json.dumps([{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}])
    tool_fn = prompt_fn([{"role": "user", "content": "add"}], prompt={"tools": tools})
    scripted_llm.push(Reply(tool_calls=[ToolCall("add", {"a": 1, "b": 2})]))
    assert (await runner.run(who, tool_fn, {})).output == {"a": 1, "b": 2}
    assert scripted_llm.requests_to("/v1/chat/completions")[-1].json["tools"][0]["function"]["name"] == "add"
    scripted_llm.push(Reply(tool_calls=[ToolCall("add", {"a": 1}), ToolCall("add", {"a": 2})]))
    out = (await runner.run(who, tool_fn, {}, mode="parallel")).output
    assert out == [{"name": "add", "arguments": {"a": 1}}, {"name": "add", "arguments": {"a": 2}}]
    # a provider failure is named
    scripted_llm.push(Fail(503, "down for maintenance"), Fail(503, "down for maintenance"))
    r = await runner.run(who, fn, {"question": "x"})
    assert r.error_status == 502 and "provider 'openai'" in str(r.error) and "gpt-4o-mini" in str(r.error)
    # an org without providers: 400 saying how to add one
    r = await runner.run(Principal(org_id="no-such-org"), fn, {"question": "x"})
    assert r.error_status == 400 and "POST /v1/ai_secret" in str(r.error)
    with pytest.raises(Invalid, match="mode"):
        await runner.run(who, fn, {}, mode="fast")


async def test_streaming_events(models: tuple[OrgModels, str], scripted_llm: ScriptedLLM) -> None:
    m, org = models
    runner = FunctionRunner(m)
    fn = prompt_fn([{"role": "user", "content": "{{input}}"}])
    events: list[InvokeEvent] = []

    async def collect(e: InvokeEvent) -> None:
        events.append(e)

    scripted_llm.push(Reply("Hello there friend"))
    r = await runner.run(Principal(org_id=org), fn, "hi", on_event=collect)
    assert r.output == "Hello there friend"
    names = [e.event for e in events]
    assert names[0] == "start" and names[-1] == "done" and "error" not in names
    assert "".join(e.data for e in events if e.event == "text_delta") == "Hello there friend"
    assert sum(1 for n in names if n == "text_delta") > 1  # really streamed
    events.clear()
    scripted_llm.push(Fail(400, "bad parameter"))
    r = await runner.run(Principal(org_id=org), fn, "hi", on_event=collect)
    assert [e.event for e in events] == ["start", "error", "done"]
    assert "bad parameter" in events[1].data and r.error_status == 400


async def test_spans_of_an_invocation(
    models: tuple[OrgModels, str], scripted_llm: ScriptedLLM, bus: InProcessBus
) -> None:
    m, org = models
    got: list[Message] = []
    done = asyncio.Event()

    async def handle(batch: list[Message]) -> None:
        got.extend(batch)
        if len(got) >= 2:
            done.set()

    consumer = await bus.subscribe(rows_topic.TOPIC, "t", handle)
    runner = FunctionRunner(m, spans=SpanWriter(bus, XactIdGenerator()))
    target = SpanTarget(
        org,
        "proj-1",
        "experiment",
        "exp-1",
        "parent-span",
        "root-span",
        {"span_attributes": {"purpose": "scorer"}},
    )
    fn = prompt_fn([{"role": "user", "content": "{{input}}"}])
    scripted_llm.push(Reply("ok", usage=(3, 2)))
    r = await runner.run(Principal(org_id=org), fn, "hi", parent=target, span_key=("exp-1", "row-1"))
    assert r.output == "ok"
    await asyncio.wait_for(done.wait(), 10)
    await consumer.stop()
    writes = [rows_topic.CONTRACT.decode(msg.value) for msg in got]
    fn_row = next(w.row for w in writes if w.row["span_attributes"]["type"] == "function")
    llm_row = next(w.row for w in writes if w.row["span_attributes"]["type"] == "llm")
    assert all(
        w.object_type == "experiment" and w.object_id == "exp-1" and w.project_id == "proj-1" for w in writes
    )
    assert fn_row["span_parents"] == ["parent-span"] and fn_row["root_span_id"] == "root-span"
    assert fn_row["span_attributes"] == {"name": "my prompt", "type": "function", "purpose": "scorer"}
    assert fn_row["output"] == "ok" and fn_row["input"] == "hi"
    assert fn_row["metadata"]["function_id"] == "f-1" and fn_row["metadata"]["slug"] == "my-prompt"
    assert fn_row["metrics"]["tokens"] == 5 and fn_row["metrics"]["end"] >= fn_row["metrics"]["start"]
    assert llm_row["span_parents"] == [fn_row["span_id"]] and llm_row["root_span_id"] == "root-span"
    assert llm_row["metrics"]["prompt_tokens"] == 3 and llm_row["metadata"]["model"] == "gpt-4o-mini"
    # deterministic ids: the same key gives the same row ids
    again = runner.spans
    assert again is not None
    span = again.start(target, "x", "function", key=("exp-1", "row-1"))
    assert span.id == fn_row["id"] and span.span_id == fn_row["span_id"]
