"""Prompts and functions with the real braintrust SDK against `loopline up`: `project.publish()` of
a chat prompt, a completion prompt, an LLM scorer and parameters; `load_prompt` (+ `build`) by
slug, by id and by version; `load_parameters`; the legacy SDK's `load_prompt`; and `braintrust
push` of a file with a code tool and a code scorer (bundle upload through `/function/code`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from loopline.common.xact import XACT_PREFIX

from tests.e2e.conftest import unique_project
from tests.support.running import RunningLoopline

FLOWS = Path(__file__).with_name("function_flows.py")
ROOT = Path(__file__).resolve().parents[2]
CLI_SDK = "0.47.0"


@pytest.fixture(scope="session")
def cli_sdk_bin() -> Path:
    """The bin dir of a venv with `braintrust[cli]` (push needs the `uv` package, which the
    project's venv does not carry)."""
    venv = ROOT / ".cache" / f"sdk-braintrust-{CLI_SDK}-cli"
    py = venv / "bin" / "python"
    if not (venv / "bin" / "braintrust").exists():
        uv = ROOT / ".cache/uv-tool/bin/uv"
        subprocess.run([str(uv), "venv", "-q", "-p", sys.executable, str(venv)], check=True)
        subprocess.run(
            [str(uv), "pip", "install", "-q", "-p", str(py), f"braintrust[cli]=={CLI_SDK}", "pydantic"],
            check=True,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        )
    return venv / "bin"


def flow(server: RunningLoopline, python: str, name: str, project: str, *args: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "BRAINTRUST_API_URL": server.url,
        "BRAINTRUST_APP_URL": server.url,
        "BRAINTRUST_API_KEY": server.api_key,
        "PYTHONPATH": "",
    }
    env.pop("BRAINTRUST_ORG_NAME", None)
    proc = subprocess.run(
        [python, str(FLOWS), name, project, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        cwd=FLOWS.parent,
    )
    assert proc.returncode == 0, f"{name}: {proc.stdout[-2000:]}\n{proc.stderr[-4000:]}\n{server.log_text()}"
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def published(embedded: RunningLoopline) -> str:
    """A new project with the objects of the `publish` flow (by the newest SDK)."""
    project = unique_project("fn")
    flow(embedded, sys.executable, "publish", project)
    return project


def test_publish_then_load_prompt_build_and_versions(embedded: RunningLoopline) -> None:
    project = published(embedded)
    api = httpx.Client(base_url=embedded.url, headers=embedded.headers, timeout=60)
    out = flow(embedded, sys.executable, "load", project)
    chat = out["chat"]
    assert chat["built"] == {
        "model": "gpt-4o-mini",
        "temperature": 0.1,
        "max_tokens": 64,
        "messages": [
            {"role": "system", "content": "You answer for u1."},
            {"role": "user", "content": "Question: 2+2?"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "description": "look a word up",
                    "parameters": {"type": "object"},
                },
            }
        ],
    }
    assert chat["name"] == "Chat Prompt" and chat["description"] == "a chat prompt" and chat["tags"] == ["t1"]
    assert len(chat["version"]) == 19 and int(chat["version"]) >> 48 == XACT_PREFIX >> 48
    assert out["by_id"]["id"] == chat["id"] and out["by_id"]["version"] == chat["version"]
    assert out["by_id"]["built"]["messages"][1]["content"] == "Question: by id"
    assert out["completion"]["built"] == {"model": "gpt-4o-mini", "prompt": "Complete this: the sky is"}
    assert out["scorer"]["built"]["messages"] == [
        {"role": "user", "content": "Is this polite? thank you kindly Answer Y or N."}
    ]
    # what the server stored for the scorer: its parser and type, as publish() sent them
    scorer = api.get(f"/v1/function/{out['scorer']['id']}").json()
    assert scorer["function_type"] == "scorer"
    assert scorer["prompt_data"]["parser"] == {
        "type": "llm_classifier",
        "use_cot": True,
        "choice_scores": {"Y": 1, "N": 0},
    }

    # a PUT writes a new version; load_prompt(version=old) still gives the old one
    current = api.get(f"/v1/prompt/{chat['id']}").json()
    body = {k: current[k] for k in ("project_id", "name", "slug", "description", "tags", "prompt_data")}
    body["prompt_data"]["options"]["model"] = "gpt-4o"
    body["prompt_data"]["prompt"]["messages"][1]["content"] = "Q2: {{input.question}}"
    r = api.put("/v1/prompt", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == chat["id"] and r.json()["_xact_id"] > chat["version"]
    versions = flow(embedded, sys.executable, "load_version", project, chat["version"])
    assert versions["latest"]["built"]["model"] == "gpt-4o"
    assert versions["latest"]["built"]["messages"][1]["content"] == "Q2: q"
    assert versions["latest"]["version"] == r.json()["_xact_id"]
    assert versions["old"]["built"]["model"] == "gpt-4o-mini"
    assert versions["old"]["built"]["messages"][1]["content"] == "Question: q"
    assert versions["old"]["version"] == chat["version"]

    params = flow(embedded, sys.executable, "parameters", project)
    assert params["slug"] == "my-params" and params["name"] == "My Params" and len(params["version"]) == 19
    assert params["data"]["model"] == "gpt-4o-mini"
    assert params["data"]["main"]["options"]["model"] == "gpt-4o-mini"
    assert params["schema"]["properties"]["main"]["x-bt-type"] == "prompt"

    missing = flow(embedded, sys.executable, "missing", project)
    assert missing["error"] and "no-such-prompt" in missing["error"]


def test_legacy_sdk_load_prompt(embedded: RunningLoopline, legacy_sdk_python: str) -> None:
    project = published(embedded)
    out = flow(embedded, legacy_sdk_python, "load", project)
    assert out["chat"]["built"]["messages"] == [
        {"role": "system", "content": "You answer for u1."},
        {"role": "user", "content": "Question: 2+2?"},
    ]
    assert out["chat"]["built"]["model"] == "gpt-4o-mini" and out["by_id"]["id"] == out["chat"]["id"]
    assert out["completion"]["built"]["prompt"] == "Complete this: the sky is"
    versions = flow(embedded, legacy_sdk_python, "load_version", project, out["chat"]["version"])
    assert versions["old"]["version"] == out["chat"]["version"]


PUSHED = '''
import braintrust
from pydantic import BaseModel

PROJECT = "{project}"  # filled in by the test (the bundle runs with an empty environment)
project = braintrust.projects.create(name=PROJECT)


class AddInput(BaseModel):
    a: int
    b: int


def add(a: int, b: int) -> int:
    """adds"""
    return a + b


adder = project.tools.create(handler=add, name="Adder", slug="adder", description="adds", parameters=AddInput)


class ScoreInput(BaseModel):
    output: str
    expected: str


def exact(output: str, expected: str) -> float:
    return 1.0 if output == expected else 0.0


project.scorers.create(handler=exact, name="Exact Code", slug="exact-code", parameters=ScoreInput)

project.prompts.create(
    name="Calculator",
    slug="calculator",
    messages=[{"role": "user", "content": "What is {{input.a}} + {{input.b}}?"}],
    model="gpt-4o-mini",
    tools=[adder],
)

braintrust.Eval(
    PROJECT,
    data=lambda: [{"input": "a", "expected": "a"}],
    task=lambda x: x,
    scores=[exact],
)
'''


def test_braintrust_push_uploads_a_bundle_and_defines_code_functions(
    embedded: RunningLoopline, cli_sdk_bin: Path, tmp_path: Path
) -> None:
    project = unique_project("push")
    (tmp_path / "fns.py").write_text(textwrap.dedent(PUSHED).replace("{project}", project))
    venv_bin = str(cli_sdk_bin)
    env = {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "BRAINTRUST_API_URL": embedded.url,
        "BRAINTRUST_APP_URL": embedded.url,
        "BRAINTRUST_API_KEY": embedded.api_key,
        "PYTHONPATH": "",
    }
    env.pop("BRAINTRUST_ORG_NAME", None)
    started = time.monotonic()
    proc = subprocess.run(
        [str(Path(venv_bin) / "braintrust"), "push", "fns.py", "--if-exists", "replace"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )
    took = time.monotonic() - started
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}\n{embedded.log_text()}"
    print(f"braintrust push took {took:.1f} s")
    api = httpx.Client(base_url=embedded.url, headers=embedded.headers, timeout=60)
    objs = {o["slug"]: o for o in api.get("/v1/function", params={"project_name": project}).json()["objects"]}
    assert set(objs) == {"adder", "exact-code", "calculator", f"fns-{project}-sandbox"}
    adder, exact = objs["adder"], objs["exact-code"]
    assert adder["function_type"] == "tool" and exact["function_type"] == "scorer"
    data = adder["function_data"]["data"]
    assert adder["function_data"]["type"] == "code" and data["type"] == "bundle"
    assert data["location"] == {"type": "function", "index": 0}
    assert data["runtime_context"]["runtime"] == "python"
    assert adder["function_schema"]["parameters"]["properties"]["a"]["type"] == "integer"
    assert exact["function_data"]["data"]["location"] == {"type": "function", "index": 1}
    assert exact["function_data"]["data"]["bundle_id"] == data["bundle_id"]
    # the prompt that calls the pushed tool names it by slug; only it is in the prompt view
    calc = objs["calculator"]
    assert calc["prompt_data"]["tool_functions"] == [
        {"type": "slug", "project_id": adder["project_id"], "slug": "adder"}
    ]
    prompts = api.get("/v1/prompt", params={"project_name": project}).json()["objects"]
    assert [p["slug"] for p in prompts] == ["calculator"]
    # the Eval in the file: a sandbox function over the same bundle
    sandbox = objs[f"fns-{project}-sandbox"]
    assert sandbox["function_type"] == "sandbox"
    location = sandbox["function_data"]["data"]["location"]
    assert location["type"] == "sandbox" and location["eval_name"] == project
    assert location["evaluator_definition"]["scores"] == [{"name": "exact"}]
    # the bundle the SDK built is stored whole: read it back as the runtime will
    bundle = bundle_bytes(embedded, adder["id"])
    with zipfile.ZipFile(BytesIO(bundle)) as zf:
        names = set(zf.namelist())
        assert "register.py" in names and "fns.py" in names
        assert zf.read("register.py").decode().strip() == "import fns as _"
        assert any(n.startswith("pydantic/") for n in names)
    assert len(bundle) > 1_000_000  # the pip-installed dependencies are in it


def bundle_bytes(server: RunningLoopline, function_id: str) -> bytes:
    r = httpx.get(f"{server.url}/v1/function/{function_id}/bundle", headers=server.headers, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    return r.content
