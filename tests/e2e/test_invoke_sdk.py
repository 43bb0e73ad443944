"""Invoke with the real braintrust SDK against `loopline up`, the scripted LLM as the org's
provider: `invoke` of a prompt (plain and streamed), of an LLM scorer, of a global autoevals
scorer, of pushed code functions (and a hostile one); `init_function` as the task and a remote
LLM-judge scorer by slug inside `Eval(...)`; the invocation spans under their parents; the
legacy 0.34 SDK's `invoke` and `Eval` on the same server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Api, unique_project
from tests.e2e.test_functions_sdk import cli_sdk_bin  # noqa: F401  (a fixture)
from tests.support.llm_server import Reply, ScriptedLLM, Seen, ToolCall
from tests.support.running import RunningLoopline

FLOWS = Path(__file__).with_name("invoke_flows.py")
ANSWERS = {"2+2?": "4", "3+3?": "6"}


def answer(req: Seen) -> Reply:
    """The scripted model: a judge (asked to select_choice) says Y; a question gets its answer."""
    tools = req.json.get("tools") or []
    if any((t.get("function") or {}).get("name") == "select_choice" for t in tools):
        return Reply(
            tool_calls=[ToolCall("select_choice", {"reasons": "It is courteous.", "choice": "Y"})],
            usage=(20, 5),
        )
    question = req.last_user_text.removeprefix("Question: ")
    return Reply(ANSWERS.get(question, f"no idea about {question}"), usage=(10, 2))


@contextmanager
def org_provider(server: RunningLoopline, llm: ScriptedLLM) -> Iterator[ScriptedLLM]:
    """The scripted LLM as the org's OpenAI provider, removed again afterwards."""
    llm.respond_with(answer)
    name = f"openai-{uuid.uuid4().hex[:6]}"
    body = {
        "name": name,
        "type": "openai",
        "secret": "sk-e2e-" + "x" * 20,
        "metadata": {"api_base": llm.openai_base_url},
    }
    r = httpx.post(f"{server.url}/v1/ai_secret", json=body, headers=server.headers, timeout=30)
    assert r.status_code == 200, r.text
    try:
        yield llm
    finally:
        httpx.request(
            "DELETE", f"{server.url}/v1/ai_secret", json={"name": name}, headers=server.headers, timeout=30
        )


@pytest.fixture
def provider(embedded: RunningLoopline, scripted_llm: ScriptedLLM) -> Iterator[ScriptedLLM]:
    with org_provider(embedded, scripted_llm) as llm:
        yield llm


def flow(
    server: RunningLoopline, python: str, name: str, project: str, timeout_s: float = 300
) -> dict[str, Any]:
    env = {
        **os.environ,
        "BRAINTRUST_API_URL": server.url,
        "BRAINTRUST_APP_URL": server.url,
        "BRAINTRUST_API_KEY": server.api_key,
        "PYTHONPATH": "",
    }
    env.pop("BRAINTRUST_ORG_NAME", None)
    proc = subprocess.run(
        [python, str(FLOWS), name, project],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
        cwd=FLOWS.parent,
    )
    assert proc.returncode == 0, (
        f"{name}: {proc.stdout[-2000:]}\n{proc.stderr[-4000:]}\n{server.log_text()[-5000:]}"
    )
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def spans_of(api: Api, object_type: str, object_id: str, want: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for _ in range(150):
        rows = api.fetch(object_type, object_id)
        if len(rows) >= want:
            return rows
        time.sleep(0.2)
    raise AssertionError(f"{len(rows)} rows of {want} in {object_type} {object_id}")


@pytest.mark.parametrize("sdk_name", ["modern", "legacy"])
def test_invoke_prompt_scorer_and_global(
    embedded: RunningLoopline, provider: ScriptedLLM, sdk_name: str, request: pytest.FixtureRequest
) -> None:
    python = sys.executable if sdk_name == "modern" else str(request.getfixturevalue("legacy_sdk_python"))
    project = unique_project("inv")
    flow(embedded, sys.executable, "publish", project)
    out = flow(embedded, python, "invoke", project)
    assert out["plain"] == "4" and out["final"] == "4" and out["streamed_text"] == "4"
    assert set(out["chunk_types"]) == {"text_delta"}
    first = provider.requests_to("/v1/chat/completions")[0]
    assert first.json["messages"] == [
        {"role": "system", "content": "You answer for u1."},
        {"role": "user", "content": "Question: 2+2?"},
    ]
    assert first.json["temperature"] == 0 and "use_cache" not in first.json
    assert out["scorer"] == {
        "name": "Is Polite",
        "score": 1,
        "metadata": {"rationale": "It is courteous.", "choice": "Y"},
    }
    assert out["global"]["name"] == "Levenshtein" and out["global"]["score"] == pytest.approx(2 / 3)
    assert "no-such-fn" in out["missing"]
    assert "input.question" in out["strict"]
    # the invocation inside a span: its child in the project's logs, with the model call under it
    api = Api(embedded)
    pid = api.project_id(project)
    outer = out["outer"]
    rows = spans_of(api, "project_logs", pid, 3)
    in_span = [r for r in rows if r["span_parents"] == [outer["span_id"]]]
    assert len(in_span) == 1, rows
    fn_span = in_span[0]
    assert (
        fn_span["root_span_id"] == outer["root_span_id"] and fn_span["span_attributes"]["type"] == "function"
    )
    assert fn_span["input"] == {"question": "in span?"} and fn_span["output"] == "no idea about in span?"
    llm = [r for r in rows if r["span_parents"] == [fn_span["span_id"]]]
    assert len(llm) == 1 and llm[0]["span_attributes"]["type"] == "llm" and llm[0]["metrics"]["tokens"] == 12


@pytest.mark.parametrize(
    ("runtime", "sdk_name"), [("embedded", "modern"), ("kafka", "modern"), ("embedded", "legacy")]
)
def test_eval_with_a_remote_task_and_a_remote_llm_judge(
    scripted_llm: ScriptedLLM, runtime: str, sdk_name: str, request: pytest.FixtureRequest
) -> None:
    server: RunningLoopline = request.getfixturevalue("embedded" if runtime == "embedded" else "on_kafka")
    python = sys.executable if sdk_name == "modern" else str(request.getfixturevalue("legacy_sdk_python"))
    with org_provider(server, scripted_llm):
        eval_flow(server, python)


def eval_flow(server: RunningLoopline, python: str) -> None:
    project = unique_project("inv-eval")
    flow(server, sys.executable, "publish", project)
    out = flow(server, python, "eval", project)
    assert all(r["error"] is None for r in out["results"]), out
    assert sorted(r["output"] for r in out["results"]) == ["4", "6"]
    assert out["scores"]["Is Polite"] == 1 and out["scores"]["Levenshtein"] == 1
    api = Api(server)
    # per row: eval, task, two score spans (the SDK) + task function, judge and their llm spans
    rows = spans_of(api, "experiment", out["experiment_id"], 2 * 8)
    roots = [r for r in rows if not r.get("span_parents")]
    assert len(roots) == 2
    for root in roots:  # the scores the SDK logged on the row's score spans, from the remote judge
        scored = {
            k: v
            for r in rows
            if r.get("span_parents") == [root["span_id"]]
            for k, v in (r.get("scores") or {}).items()
        }
        assert scored == {"Is Polite": 1, "Levenshtein": 1}
    by_span = {r["span_id"]: r for r in rows}
    functions = [
        r for r in rows if r["span_attributes"]["type"] in ("function", "score") and r["metadata"].get("slug")
    ]
    tasks = [r for r in functions if r["metadata"]["slug"] == "answer"]
    judges = [r for r in functions if r["metadata"]["slug"] == "is-polite"]
    assert len(tasks) == 2 and len(judges) == 2
    for t in tasks:  # under the SDK's task span, in the row's trace
        parent = by_span[t["span_parents"][0]]
        assert parent["span_attributes"]["type"] == "task" and t["root_span_id"] == parent["root_span_id"]
    for j in judges:  # under the SDK's score span; the scorer purpose propagated
        parent = by_span[j["span_parents"][0]]
        assert parent["span_attributes"]["type"] == "score" and j["span_attributes"]["purpose"] == "scorer"
        assert j["output"]["score"] == 1 and "trace" not in j["input"]


PUSHED = '''
import braintrust
from pydantic import BaseModel

project = braintrust.projects.create(name="PROJECT")


class AddInput(BaseModel):
    a: int
    b: int


def add(a: int, b: int) -> int:
    """adds"""
    print("adding", a, b)
    return a + b


project.tools.create(handler=add, name="Adder", slug="adder", description="adds", parameters=AddInput)


class ScoreInput(BaseModel):
    output: str
    expected: str


def exact(output: str, expected: str) -> float:
    return 1.0 if output == expected else 0.0


project.scorers.create(handler=exact, name="Exact Code", slug="exact-code", parameters=ScoreInput)


class Nothing(BaseModel):
    pass


def spin() -> int:
    while True:
        pass


project.tools.create(handler=spin, name="Spin", slug="spin", description="never ends", parameters=Nothing)


class Word(BaseModel):
    word: str


def plural(word: str) -> str:
    import inflection  # from requirements.txt: installed on the server, not in the pusher's venv

    return inflection.pluralize(word)


project.tools.create(handler=plural, name="Plural", slug="plural", description="plural", parameters=Word)
'''


def test_invoke_pushed_code_functions(
    embedded: RunningLoopline,
    cli_sdk_bin: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    project = unique_project("inv-code")
    (tmp_path / "fns.py").write_text(textwrap.dedent(PUSHED).replace("PROJECT", project))
    (tmp_path / "requirements.txt").write_text("inflection==0.5.1\n")  # small, pure Python
    env = {
        **os.environ,
        "PATH": f"{cli_sdk_bin}:{os.environ.get('PATH', '')}",
        "BRAINTRUST_API_URL": embedded.url,
        "BRAINTRUST_APP_URL": embedded.url,
        "BRAINTRUST_API_KEY": embedded.api_key,
        "PYTHONPATH": "",
    }
    env.pop("BRAINTRUST_ORG_NAME", None)
    proc = subprocess.run(
        [
            str(cli_sdk_bin / "braintrust"),
            *("push", "fns.py", "--requirements", "requirements.txt", "--if-exists", "replace"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    out = flow(embedded, sys.executable, "code", project)
    assert out["add"] == 5 and out["after"] == 2
    assert out["plural"] == "octopi"  # the bundle's own requirement, installed from PyPI
    assert out["score"] == {"name": "Exact Code", "score": 1, "metadata": {}}
    assert "time" in out["spin"] and ("CPU" in out["spin"] or "wall" in out["spin"])
