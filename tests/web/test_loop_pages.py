"""Loop in the browser, against the scripted model server with the org's AI secret set: the panel
streams an answer, shows a write as a tool-call card that waits for Accept (or Reject), sends the
page the user is on with each message, offers the org's models, auto-accepts when asked, and the
BTQL sandbox's "Fix with Loop" hands over the failing query and opens the corrected one."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.llm_server import Reply, ScriptedLLM, ToolCall
from tests.web.conftest import Seeded, shot, sign_in
from tests.web.test_pages import replace_editor_text

MODEL = "gpt-4o-mini"


@pytest.fixture(scope="module")
def llm(seeded: Seeded) -> Iterator[ScriptedLLM]:
    """The scripted model, reached through an AI secret of the seeded org (the model gateway)."""
    with ScriptedLLM() as server:
        r = httpx.post(
            f"{seeded.server.url}/v1/ai_secret",
            json={
                "name": f"web-openai-{uuid.uuid4().hex[:6]}",
                "type": "openai",
                "secret": "sk-web-" + "w" * 24,
                "metadata": {"api_base": server.openai_base_url, "models": [MODEL], "max_attempts": 1},
            },
            headers=seeded.server.headers,
        )
        assert r.status_code == 200, r.text
        yield server


@pytest.fixture
def scripted(llm: ScriptedLLM) -> ScriptedLLM:
    llm.requests.clear()
    llm.respond_with(None)
    return llm


def records(seeded: Seeded, dataset_id: str) -> list[dict[str, Any]]:
    r = httpx.post(
        f"{seeded.server.url}/v1/dataset/{dataset_id}/fetch",
        json={"limit": 100},
        headers=seeded.server.headers,
    )
    assert r.status_code == 200, r.text
    return list(r.json()["events"])


def new_dataset(seeded: Seeded, name: str, project_id: str | None = None) -> str:
    """A dataset of the seeded project (or another) for one test (the shared ones stay as seeded)."""
    r = httpx.post(
        f"{seeded.server.url}/v1/dataset",
        json={"project_id": project_id or seeded.project_id, "name": name},
        headers=seeded.server.headers,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def open_loop(page: Any) -> Any:
    page.get_by_role("button", name="✦ Loop").click()
    panel = page.get_by_role("complementary", name="Loop")
    expect(panel.get_by_label("Model")).to_have_value(MODEL)
    return panel


def send(panel: Any, text: str) -> None:
    panel.get_by_label("Message Loop").fill(text)
    panel.get_by_role("button", name="Send").click()


def test_a_write_waits_for_accept_and_the_page_is_the_context(
    page: Any, seeded: Seeded, scripted: ScriptedLLM
) -> None:
    ds = f"loop-{uuid.uuid4().hex[:6]}"
    ds_id = new_dataset(seeded, ds)
    record = {"input": {"question": "Do you ship abroad?"}, "expected": {"answer": "Yes."}}
    # no dataset_id: edit_data writes to the dataset in view, which only the page context names
    scripted.push(
        Reply(
            "I will add that record to this dataset.",
            tool_calls=[ToolCall("edit_data", {"insert": [record]})],
        ),
        Reply("Done: the dataset has the new record.", chunk_delay_s=0.05),
    )
    sign_in(page, seeded, f"{seeded.project_path}/datasets/{ds}")
    expect(page.get_by_text("This dataset has no records")).to_be_visible()
    panel = open_loop(page)
    expect(panel).to_contain_text("Loop sees this dataset")
    send(panel, "add a record about shipping abroad")
    card = panel.get_by_role("group", name="Tool edit_data")
    expect(card).to_contain_text("needs your confirmation")
    expect(card).to_contain_text("insert 1")
    expect(panel.get_by_role("log")).to_contain_text("I will add that record to this dataset.")
    assert records(seeded, ds_id) == []  # nothing is written before the user accepts
    shot(page, "40-loop-confirmation")
    sent = scripted.requests_to("/v1/chat/completions")[0]
    assert sent.api_key == "sk-web-" + "w" * 24 and sent.stream
    assert ds_id in str(sent.messages) and "dataset" in str(sent.messages)

    card.get_by_role("button", name="Accept").click()
    expect(card).to_contain_text("ok")
    expect(panel.get_by_role("log")).to_contain_text("Done: the dataset has the new record.")
    got = records(seeded, ds_id)
    assert [(r["input"], r["expected"]) for r in got] == [(record["input"], record["expected"])]
    page.reload()  # the dataset page shows it; the panel stays open across pages
    expect(page.get_by_role("table", name="Records")).to_contain_text("Do you ship abroad?")
    shot(page, "41-loop-accepted")


def test_reject_then_auto_accept_and_the_model_picker(
    page: Any, seeded: Seeded, scripted: ScriptedLLM
) -> None:
    ds_id = new_dataset(seeded, f"loop-{uuid.uuid4().hex[:6]}")
    before = len(records(seeded, ds_id))
    remove = ToolCall("edit_data", {"dataset_id": ds_id, "insert": [{"input": "x", "expected": "y"}]})
    scripted.push(Reply(tool_calls=[remove]), Reply("Understood, I left the dataset as it is."))
    sign_in(page, seeded, seeded.project_path + "/logs")
    panel = open_loop(page)
    expect(panel.get_by_label("Model").locator("option")).to_have_text([MODEL])
    send(panel, "add x to that dataset")
    card = panel.get_by_role("group", name="Tool edit_data")
    card.get_by_role("button", name="Reject").click()
    expect(card).to_contain_text("rejected")
    expect(panel.get_by_role("log")).to_contain_text("Understood, I left the dataset as it is.")
    assert len(records(seeded, ds_id)) == before
    # the logs page was the context of that turn
    assert seeded.project_id in str(scripted.requests_to("/v1/chat/completions")[0].messages)

    panel.get_by_label("Auto-accept changes").check()
    scripted.push(Reply(tool_calls=[remove]), Reply("Added without asking, as you allowed."))
    send(panel, "add it anyway")
    expect(panel.get_by_role("log")).to_contain_text("Added without asking, as you allowed.")
    cards = panel.get_by_role("group", name="Tool edit_data")
    expect(cards.last).to_contain_text("ok")
    expect(cards.last.get_by_role("button", name="Accept")).to_have_count(0)
    assert len(records(seeded, ds_id)) == before + 1
    shot(page, "42-loop-auto-accept")


def test_fix_with_loop_in_the_sandbox(page: Any, seeded: Seeded, scripted: ScriptedLLM) -> None:
    fixed = f"select: id, input\n| from: project_logs('{seeded.project_id}')\n| limit: 5"
    scripted.push(Reply(f"The source is misspelled. Use:\n```btql\n{fixed}\n```", chunk_delay_s=0.02))
    sign_in(page, seeded, seeded.project_path + "/btql")
    expect(page.get_by_role("button", name="✦ Fix with Loop")).to_have_count(0)  # nothing to fix yet
    replace_editor_text(page, f"select: id, input\n| from: project_logz('{seeded.project_id}')\n| limit: 5")
    expect(page.get_by_role("status", name="Query status")).to_contain_text("BindError")
    page.get_by_role("button", name="✦ Fix with Loop").click()
    panel = page.get_by_role("complementary", name="Loop")
    expect(panel.get_by_role("log")).to_contain_text("The source is misspelled.")
    said = str(scripted.requests_to("/v1/chat/completions")[0].messages)
    assert "project_logz" in said and "BindError" in said  # the query and its error went along
    shot(page, "43-fix-with-loop")
    panel.get_by_role("button", name="Open in sandbox").click()
    expect(page).to_have_url(re.compile(r"/btql\?q="))
    expect(page.get_by_role("textbox", name="BTQL query")).to_contain_text("from: project_logs(")
    expect(page.get_by_role("status", name="Query status")).to_contain_text("Valid")


QUESTIONS = {"2+2": "4", "3*3": "9", "10-7": "3"}


def test_playground_runs_a_prompt_over_a_dataset_as_an_experiment(
    page: Any, seeded: Seeded, scripted: ScriptedLLM
) -> None:
    # a project of its own: the seeded one keeps its two experiments for test_pages
    tag = uuid.uuid4().hex[:6]
    project = httpx.post(
        f"{seeded.server.url}/v1/project", json={"name": f"pg-{tag}"}, headers=seeded.server.headers
    ).json()
    name = f"math-{tag}"
    ds = new_dataset(seeded, name, project["id"])
    events = [{"input": {"question": q}, "expected": a} for q, a in QUESTIONS.items()]
    r = httpx.post(
        f"{seeded.server.url}/v1/dataset/{ds}/insert", json={"events": events}, headers=seeded.server.headers
    )
    assert r.status_code == 200, r.text
    # the model gets 3*3 wrong
    scripted.respond_with(
        lambda req: Reply("90" if req.last_user_text == "3*3" else QUESTIONS[req.last_user_text])
    )
    sign_in(page, seeded, f"/app/default/p/pg-{tag}/playground")
    form = page.get_by_role("form", name="Playground")
    form.get_by_label("Dataset").select_option(label=name)
    form.get_by_label("Model").fill(MODEL)
    form.get_by_label("System message").fill("Answer with a number only.")
    form.get_by_label("User message").fill("{{input.question}}")
    experiment = f"pg-{uuid.uuid4().hex[:6]}"
    form.get_by_label("Experiment name").fill(experiment)
    shot(page, "44-playground")
    form.get_by_role("button", name="Run and save as experiment").click()
    result = page.get_by_role("region", name="Run result")
    expect(result.locator("[data-score=ExactMatch]")).to_contain_text("66.7%", timeout=60_000)
    expect(page.get_by_role("progressbar", name="Eval progress")).to_contain_text("3 / 3 rows")
    chats = scripted.requests_to("/v1/chat/completions")
    assert len(chats) == 3 and all(c.messages[0]["content"] == "Answer with a number only." for c in chats)
    shot(page, "45-playground-result")
    result.get_by_role("link", name="Open experiment").click()
    expect(page).to_have_url(re.compile(rf"/experiments/{experiment}$"))
    expect(page.get_by_role("table", name="Traces").get_by_role("row")).to_have_count(4)
