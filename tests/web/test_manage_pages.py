"""The web app's management actions in the browser, on the session's seeded `loopline up`:

* a dataset's old version restored from its versions list (a new version with the old records);
* online scoring rules edited (to a project scorer function, chosen by slug) and deleted;
* the intents page with two facets (picker, distribution and trend per facet, a new facet) and
  the classifier's improvement loop: labels → dataset → retrain → evaluate as an experiment;
* the org's Loop model allowlist set by an admin, and the Loop panel's picker offering only it;
* a viewer sees none of these actions, a member none of the admin's, and the API refuses them.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.classifier_logs import root_span
from tests.web.conftest import Seeded, ai_secret, key_of_role, new_project, shot, sign_in_as

TEXTS = {
    "refund": ["I want my money back for this order", "please refund my last payment"],
    "weather": ["will it rain in Paris tomorrow", "what is the forecast for the weekend"],
}


def dataset_with_history(api: httpx.Client, project_id: str) -> tuple[str, str]:
    """A dataset written three times: a and b; a edited; b deleted and c added."""
    name = f"restore-{uuid.uuid4().hex[:6]}"
    ds = api.post("/v1/dataset", json={"project_id": project_id, "name": name}).json()["id"]
    for events in (
        [{"id": "a", "input": "alpha", "expected": "A"}, {"id": "b", "input": "beta", "expected": "B"}],
        [{"id": "a", "input": "alpha, edited", "expected": "A2"}],
        [{"id": "b", "_object_delete": True}, {"id": "c", "input": "gamma", "expected": "C"}],
    ):
        r = api.post(f"/v1/dataset/{ds}/insert", json={"events": events})
        assert r.status_code == 200, r.text
    return name, ds


def records(api: httpx.Client, ds: str) -> list[tuple[str, Any]]:
    r = api.post("/btql", json={"query": f"select: id, input | from: dataset('{ds}') | sort: id"})
    assert r.status_code == 200, r.text
    return [(x["id"], x["input"]) for x in r.json()["data"]]


def test_restore_an_old_dataset_version(page: Any, seeded: Seeded, api: httpx.Client) -> None:
    name, ds = dataset_with_history(api, seeded.project_id)
    sign_in_as(page, seeded.server.api_key, f"{seeded.project_path}/datasets/{name}")
    page.get_by_role("button", name="Versions").click()
    items = page.get_by_role("region", name="Versions").locator(".version-item")
    expect(items).to_have_count(4)  # Latest + 3 writes
    items.last.click()  # the first write: a and b
    table = page.get_by_role("table", name="Records")
    expect(table).to_contain_text("beta")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Restore this version").click()
    expect(page.get_by_role("status").filter(has_text="Restored")).to_have_text(
        "Restored as a new version: 2 records written back, 1 deleted."
    )
    expect(page).not_to_have_url(re.compile(r"version="))
    expect(table).to_contain_text("beta")
    expect(table).not_to_contain_text("gamma")
    expect(table).not_to_contain_text("edited")
    expect(items).to_have_count(5)
    shot(page, "webpages-dataset-restored")
    assert records(api, ds) == [("a", "alpha"), ("b", "beta")]


def scorer_function(api: httpx.Client, project_id: str, slug: str) -> str:
    body = {
        "project_id": project_id,
        "name": slug.replace("-", " ").title(),
        "slug": slug,
        "function_type": "scorer",
        "function_data": {"type": "prompt"},
        "prompt_data": {
            "prompt": {"type": "chat", "messages": [{"role": "user", "content": "Polite? {{output}}"}]},
            "options": {"model": "gpt-4o-mini"},
            "parser": {"type": "llm_classifier", "use_cot": False, "choice_scores": {"Y": 1, "N": 0}},
        },
    }
    r = api.post("/v1/function", json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def test_online_rules_edit_to_a_project_scorer_and_delete(
    page: Any, seeded: Seeded, api: httpx.Client
) -> None:
    project, pid = new_project(api, "rules")
    fid = scorer_function(api, pid, "tone-check")
    sign_in_as(page, seeded.server.api_key, f"/app/default/p/{project}/online-scoring")
    form = page.get_by_role("form", name="Add a rule")
    form.get_by_label("Rule name").fill("json-check")
    form.get_by_label("Scorer", exact=True).select_option("ValidJSON")
    form.get_by_role("button", name="Add rule").click()
    rules = page.get_by_role("table", name="Rules")
    rule = rules.get_by_role("row").filter(has_text="json-check")
    expect(rule).to_contain_text("ValidJSON")

    # edited: renamed, a project scorer chosen by its slug, half the spans, a filter
    rule.get_by_role("button", name="Edit json-check").click()
    edit = page.get_by_role("form", name="Edit rule json-check")
    expect(edit.get_by_label("Scorer", exact=True)).to_have_value("global:ValidJSON")
    edit.get_by_label("Rule name").fill("tone")
    edit.get_by_label("Scorer", exact=True).select_option(label="tone-check")
    edit.get_by_label("Sampling rate").fill("0.5")
    edit.get_by_label("BTQL filter").fill("span_attributes.name = 'chat'")
    edit.get_by_role("button", name="Save rule").click()
    rule = rules.get_by_role("row").filter(has_text="tone-check (project scorer)")
    expect(rule).to_contain_text("50%")
    expect(rule).to_contain_text("span_attributes.name = 'chat'")
    expect(page.get_by_role("form", name="Add a rule")).to_be_visible()
    shot(page, "webpages-online-rule-edited")
    (stored,) = api.get("/v1/project_score", params={"project_id": pid, "score_type": "online"}).json()[
        "objects"
    ]
    online = stored["config"]["online"]
    assert stored["name"] == "tone" and online["scorers"] == [{"type": "function", "id": fid}]
    assert online["sampling_rate"] == 0.5

    # a bad filter is refused with the server's message, and the rule stays as it was
    rule.get_by_role("button", name="Edit tone").click()
    edit = page.get_by_role("form", name="Edit rule tone")
    edit.get_by_label("BTQL filter").fill("span_attributes.name = ")
    edit.get_by_role("button", name="Save rule").click()
    expect(page.get_by_text("The rule was refused")).to_be_visible()
    edit.get_by_role("button", name="Cancel").click()

    page.once("dialog", lambda d: d.accept())
    rule.get_by_role("button", name="Delete tone").click()
    expect(page.get_by_text("No online scoring rules")).to_be_visible()
    assert (
        api.get("/v1/project_score", params={"project_id": pid, "score_type": "online"}).json()["objects"]
        == []
    )


def labelled(api: httpx.Client, pid: str, facets: tuple[str, ...], ids: set[str]) -> None:
    """Waits until the classifier consumer labelled every span of `ids` in every facet."""
    deadline = time.monotonic() + 180
    while True:
        events = api.post(f"/v1/project_logs/{pid}/fetch", json={"limit": 1000}).json()["events"]
        done = {e["id"] for e in events if all((e.get("classifications") or {}).get(f) for f in facets)}
        if ids <= done:
            return
        assert time.monotonic() < deadline, f"never labelled: {sorted(ids - done)}"
        time.sleep(0.5)


def test_intents_facets_trend_and_the_improvement_loop(page: Any, seeded: Seeded, api: httpx.Client) -> None:
    project, pid = new_project(api, "facets")
    base = f"/v1/project/{pid}/classifier"
    intent = {
        "facet": "Intent",
        "labels": [
            {"name": "refund", "description": "wants money back", "examples": ["I want a refund"]},
            {"name": "weather", "description": "weather forecast questions", "examples": ["is it sunny"]},
        ],
        "threshold": 0.5,
    }
    sentiment = {
        "facet": "Sentiment",
        "labels": [
            {"name": "upset", "description": "an unhappy user"},
            {"name": "calm", "description": "neutral"},
        ],
        "threshold": 0.99,
    }
    cid = api.post(base, json=intent).json()["id"]
    assert api.post(base, json=sentiment).status_code == 200
    rows = [
        root_span(f"{topic}{i}", pid, [{"role": "user", "content": text}], output="ok")
        for topic, texts in TEXTS.items()
        for i, text in enumerate(texts)
    ]
    assert api.post("/logs3", json={"rows": rows}).status_code == 200
    labelled(api, pid, ("Intent", "Sentiment"), {r["id"] for r in rows})
    for topic, texts in TEXTS.items():  # a person's labels: the dataset's records
        for i in range(len(texts)):
            r = api.post(f"{base}/{cid}/label", json={"span_id": f"{topic}{i}", "label": topic})
            assert r.status_code == 200, r.text

    sign_in_as(page, seeded.server.api_key, f"/app/default/p/{project}/intents")
    facet = page.get_by_label("Facet", exact=True)
    expect(facet).to_have_value("Intent")
    expect(facet.locator("option")).to_have_text(["Intent", "Sentiment"])
    expect(page.get_by_role("region", name="Taxonomy")).to_contain_text("facet Intent")
    trend = page.get_by_role("region", name="Trend")
    expect(trend).to_contain_text("Intent trend")
    expect(trend.locator(".recharts-surface").first).to_be_visible()
    trend.get_by_text("Data").click()
    expect(trend.locator("table")).to_contain_text("refund")  # the human labels, today
    expect(page.get_by_role("table", name="Labels")).to_contain_text("refund")

    # the improvement loop: the human labels as a dataset, retrained from them, evaluated on it
    improve = page.get_by_role("region", name="Improve")
    step = improve.get_by_role("group", name="Dataset from labels")
    step.get_by_label("New dataset name").fill("intent-gold")
    step.get_by_role("button", name="Make dataset").click()
    expect(step.get_by_role("status")).to_contain_text("4 labelled spans → intent-gold", timeout=60_000)
    expect(step.get_by_role("status")).to_contain_text("refund: 2")
    step = improve.get_by_role("group", name="Retrain")
    step.get_by_role("button", name="Retrain").click()
    expect(step.get_by_role("status")).to_contain_text(
        "Version 2: 4 new examples (from 4 corrections", timeout=60_000
    )
    expect(page.get_by_role("region", name="Taxonomy")).to_contain_text("version 2")
    step = improve.get_by_role("group", name="Evaluate")
    expect(step.get_by_label("Evaluate on dataset")).to_have_value(re.compile(".+"))
    step.get_by_role("button", name="Evaluate version 2").click()
    status = step.get_by_role("status")
    expect(status).to_contain_text("Version 2 on intent-gold: accuracy", timeout=120_000)
    expect(status).to_contain_text("/4)")
    improve.scroll_into_view_if_needed()
    shot(page, "webpages-intents-improve")
    experiment = status.get_by_role("link").inner_text()
    exps = api.get("/v1/experiment", params={"project_id": pid}).json()["objects"]
    assert [e["name"] for e in exps] == [experiment]
    assert exps[0]["metadata"]["classifier"] == {"id": cid, "version": 2, "facet": "Intent"}
    # those records are the very examples version 2 was retrained on: the page says so, and held
    # out, none is left (a 400 that says why, no second experiment)
    warned = step.get_by_role("alert", name="Evaluated on training data")
    expect(warned).to_contain_text("all 4 records are examples version 2 was trained on")
    warned.get_by_role("button", name="Evaluate on the records it has not seen").click()
    expect(step.get_by_text("none is left to evaluate on")).to_be_visible()
    assert len(api.get("/v1/experiment", params={"project_id": pid}).json()["objects"]) == 1

    # the other facet: its own taxonomy, distribution and trend
    facet.select_option("Sentiment")
    page.get_by_role("heading", name="Intents").scroll_into_view_if_needed()
    expect(page).to_have_url(re.compile(r"facet=Sentiment"))
    expect(page.get_by_role("region", name="Taxonomy")).to_contain_text("facet Sentiment · version 1")
    expect(page.get_by_role("region", name="Trend")).to_contain_text("Sentiment trend")
    expect(page.get_by_role("table", name="Labels")).to_contain_text("other")
    shot(page, "webpages-intents-sentiment")

    # a third facet made on the page is chosen at once
    page.get_by_role("button", name="+ Facet").click()
    page.get_by_label("Facet name").fill("Topic")
    page.get_by_role("button", name="Create facet").click()
    expect(facet).to_have_value("Topic")
    expect(page.get_by_role("region", name="Taxonomy")).to_contain_text("facet Topic")
    assert sorted(c["facet"] for c in api.get(base).json()["objects"]) == ["Intent", "Sentiment", "Topic"]


@pytest.fixture
def two_models(api: httpx.Client) -> Iterator[tuple[str, str]]:
    """An org AI secret serving two models (never called here); the allowlist cleared after."""
    tag = uuid.uuid4().hex[:6]
    models = (f"allow-a-{tag}", f"allow-b-{tag}")
    secret_id = ai_secret(api, f"allowlist-{tag}", "openai", list(models))
    try:
        yield models
    finally:
        api.put("/v1/loop/settings", json={"allowed_models": None})
        api.delete(f"/v1/ai_secret/{secret_id}")


def test_loop_model_allowlist_and_the_picker(
    page: Any, seeded: Seeded, api: httpx.Client, two_models: tuple[str, str]
) -> None:
    a, b = two_models
    sign_in_as(page, seeded.server.api_key, "/app/default/settings/loop-models")
    allowlist = page.get_by_role("region", name="Allowlist")
    expect(allowlist.get_by_role("status")).to_have_text(
        "No allowlist: Loop may use every model the organization can call."
    )
    expect(allowlist.get_by_label(f"Allow {a}")).to_be_checked()
    # only a, plus a model no provider serves yet
    for box in allowlist.get_by_role("checkbox").all():
        if box.get_attribute("aria-label") != f"Allow {a}":
            box.uncheck()
    allowlist.get_by_label("Model id").fill("claude-later")
    allowlist.get_by_role("button", name="Add", exact=True).click()
    expect(allowlist.get_by_label("Allow claude-later")).to_be_checked()
    allowlist.get_by_role("button", name="Save allowlist").click()
    expect(allowlist.get_by_role("status")).to_have_text(f"Allowlist: {a}, claude-later.")
    expect(allowlist.get_by_role("row").filter(has_text="claude-later")).to_contain_text("not served now")
    assert api.get("/v1/loop/settings").json() == {"allowed_models": [a, "claude-later"]}

    # the Loop panel offers only the allowed model the org can call
    page.get_by_role("button", name="✦ Loop").click()
    picker = page.get_by_role("combobox", name="Model", exact=True)
    expect(picker.locator("option")).to_have_text([a])
    expect(page.get_by_text(re.compile(r"^\d+ off the allowlist$"))).to_be_visible()
    shot(page, "webpages-loop-allowlist")
    # the server refuses a conversation on a model off the list
    r = api.post("/v1/loop/conversations", json={"model": b})
    assert r.status_code == 400 and "allowlist" in r.json()["error"]["message"]

    allowlist.get_by_role("button", name="Allow every model").click()
    expect(allowlist.get_by_role("status")).to_have_text(
        "No allowlist: Loop may use every model the organization can call."
    )
    expect(picker.locator("option", has_text=b)).to_have_count(1)
    expect(page.get_by_text(re.compile(r"off the allowlist$"))).to_have_count(0)
    assert api.get("/v1/loop/settings").json() == {"allowed_models": None}


def test_viewers_and_members_see_no_actions_they_may_not_take_and_the_api_refuses_them(
    page: Any, browser: Any, seeded: Seeded, api: httpx.Client, two_models: tuple[str, str]
) -> None:
    name, ds = dataset_with_history(api, seeded.project_id)
    project, pid = new_project(api, "roles")
    rule = api.post(
        "/v1/project_score",
        json={
            "project_id": pid,
            "name": "json",
            "score_type": "online",
            "config": {"online": {"sampling_rate": 1, "scorers": [{"type": "global", "name": "ValidJSON"}]}},
        },
    ).json()["id"]
    cid = api.post(
        f"/v1/project/{pid}/classifier", json={"facet": "Intent", "labels": [{"name": "x"}]}
    ).json()["id"]
    oldest = api.get(f"/v1/dataset/{ds}/versions").json()["versions"][-1]["version"]

    viewer = key_of_role(api, "viewer")
    sign_in_as(page, viewer, f"{seeded.project_path}/datasets/{name}?version={oldest}")
    expect(page.get_by_text(f"Viewing the dataset as of version {oldest}")).to_be_visible()
    expect(page.get_by_role("table", name="Records")).to_contain_text("beta")
    expect(page.get_by_role("button", name="Restore this version")).to_have_count(0)
    expect(page.get_by_role("button", name="Add record")).to_have_count(0)

    page.goto(f"/app/default/p/{project}/online-scoring")
    expect(page.get_by_role("table", name="Rules")).to_contain_text("json")
    expect(page.get_by_text("Only admins add, edit, pause, resume or delete rules.")).to_be_visible()
    expect(page.get_by_role("button", name="Edit json")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete json")).to_have_count(0)

    page.goto(f"/app/default/p/{project}/intents")
    expect(page.get_by_role("region", name="Improve")).to_contain_text(
        "Members and above make datasets from labels"
    )
    expect(page.get_by_role("button", name="Retrain")).to_have_count(0)
    expect(page.get_by_role("button", name="+ Facet")).to_have_count(0)

    page.goto("/app/default/settings/loop-models")
    allowlist = page.get_by_role("region", name="Allowlist")
    expect(allowlist).to_contain_text("Only admins change the allowlist.")
    expect(allowlist.get_by_label(f"Allow {two_models[0]}")).to_be_disabled()
    for box in allowlist.get_by_role("checkbox").all():
        expect(box).to_be_disabled()
    expect(allowlist.get_by_role("button", name="Save allowlist")).to_have_count(0)
    shot(page, "webpages-viewer-loop-models")

    # a member: the dataset and the classifier loop yes, the admin's rules and allowlist no
    member = key_of_role(api, "member")
    context = browser.new_context(base_url=seeded.server.url, viewport={"width": 1440, "height": 900})
    try:
        mp = context.new_page()
        sign_in_as(mp, member, f"{seeded.project_path}/datasets/{name}?version={oldest}")
        expect(mp.get_by_role("button", name="Restore this version")).to_be_visible()
        mp.goto(f"/app/default/p/{project}/online-scoring")
        expect(mp.get_by_role("table", name="Rules")).to_contain_text("json")
        expect(mp.get_by_role("button", name="Edit json")).to_have_count(0)
        mp.goto(f"/app/default/p/{project}/intents")
        expect(mp.get_by_role("button", name="Retrain")).to_be_visible()
        mp.goto("/app/default/settings/loop-models")
        expect(mp.get_by_role("region", name="Allowlist")).to_contain_text(
            "Only admins change the allowlist."
        )
    finally:
        context.close()

    # the API refuses each of them below its least role, whatever the page shows
    cbase = f"/v1/project/{pid}/classifier/{cid}"
    refused = {
        "viewer": [
            ("POST", f"/v1/dataset/{ds}/restore", {"version": oldest}),
            ("POST", f"{cbase}/dataset", {}),
            ("POST", f"{cbase}/retrain", {}),
            ("POST", f"{cbase}/evaluate", {"dataset_id": ds}),
            ("POST", f"/v1/project/{pid}/classifier", {"facet": "Topic"}),
        ],
        "member": [
            ("PATCH", f"/v1/project_score/{rule}", {"name": "renamed"}),
            ("DELETE", f"/v1/project_score/{rule}", None),
            ("PUT", "/v1/loop/settings", {"allowed_models": []}),
        ],
    }
    refused["viewer"] += refused["member"]
    for role, key in (("viewer", viewer), ("member", member)):
        for method, path, body in refused[role]:
            r = httpx.request(
                method,
                f"{seeded.server.url}{path}",
                json=body,
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            assert r.status_code == 403 and "role" in r.text, (role, method, path, r.status_code, r.text)
    assert len(api.get(f"/v1/dataset/{ds}/versions").json()["versions"]) == 3
    assert api.get(f"/v1/project_score/{rule}").json()["name"] == "json"
