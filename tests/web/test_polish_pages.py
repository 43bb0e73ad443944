"""The pages' remaining gaps, in the browser on the session's seeded `loopline up`:

* an online scoring rule made and edited whole in the form: several scorers, trace scope with its
  idle seconds, span names, the BTQL filter checked as it is typed, the daily spend cap, skipping
  scorer spans;
* a dataset restore refused (409) because someone wrote to the dataset after the page read it,
  then done again over the latest version from the notice;
* a viewer is told why Loop is not theirs (no toggle that the server would refuse), and the Loop
  models page names each model's provider type beside the AI secret serving it.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.web.conftest import Seeded, ai_secret, key_of_role, new_project, shot, sign_in_as
from tests.web.test_manage_pages import dataset_with_history, records


def online_rule(api: httpx.Client, pid: str) -> dict[str, Any]:
    (stored,) = api.get("/v1/project_score", params={"project_id": pid, "score_type": "online"}).json()[
        "objects"
    ]
    return dict(stored["config"]["online"])


def test_a_whole_online_rule_made_and_edited_in_the_form(
    page: Any, seeded: Seeded, api: httpx.Client
) -> None:
    project, pid = new_project(api, "rule-form")
    sign_in_as(page, seeded.server.api_key, f"/app/default/p/{project}/online-scoring")
    form = page.get_by_role("form", name="Add a rule")
    form.get_by_label("Rule name").fill("whole-trace")
    form.get_by_role("button", name="+ Scorer").click()
    form.get_by_label("Scorer 2").select_option("Levenshtein")
    form.get_by_label("Scope").select_option("trace")
    form.get_by_label("Idle seconds").fill("45")
    # the filter is checked as it is typed: the error underlined, its message and where
    flt = form.get_by_label("BTQL filter")
    flt.fill("metadata.kind = ")
    expect(form.locator(".cm-lintRange-error")).to_have_count(1)
    expect(form.get_by_role("alert")).to_contain_text("ParseError: unexpected end of query (line 1, column")
    flt.fill("nosuchfn(metadata.kind)")
    expect(form.get_by_role("alert")).to_contain_text("unknown function 'nosuchfn'")
    flt.fill("metadata.kind = 'chat'")
    expect(form.get_by_text("✓ a valid filter over this project's logs")).to_be_visible()
    expect(form.locator(".cm-lintRange-error")).to_have_count(0)
    form.get_by_label("Daily spend cap (USD)").fill("1.5")
    form.get_by_label("skip scorer spans").check()
    shot(page, "polish-online-rule-form")
    form.get_by_role("button", name="Add rule").click()
    row = page.get_by_role("table", name="Rules").get_by_role("row").filter(has_text="whole-trace")
    expect(row).to_contain_text("ValidJSON, Levenshtein")
    expect(row).to_contain_text("whole trace, 45 s idle · cap $1.5/day · no scorer spans")
    online = online_rule(api, pid)
    assert online["scorers"] == [
        {"type": "global", "name": "ValidJSON"},
        {"type": "global", "name": "Levenshtein"},
    ]
    assert online["scope"] == {"type": "trace", "idle_seconds": 45.0}
    assert (online["btql_filter"], online["daily_spend_cap_usd"], online["skip_logging"]) == (
        "metadata.kind = 'chat'",
        1.5,
        True,
    )

    # edited: every field comes back as saved; now span scope on named spans, no cap, one scorer
    row.get_by_role("button", name="Edit whole-trace").click()
    edit = page.get_by_role("form", name="Edit rule whole-trace")
    expect(edit.get_by_label("Scope")).to_have_value("trace")
    expect(edit.get_by_label("Idle seconds")).to_have_value("45")
    expect(edit.get_by_label("Scorer 2")).to_have_value("global:Levenshtein")
    expect(edit.get_by_label("Daily spend cap (USD)")).to_have_value("1.5")
    expect(edit.get_by_label("BTQL filter")).to_have_text("metadata.kind = 'chat'")
    edit.get_by_role("button", name="Remove scorer #2").click()
    edit.get_by_label("Scope").select_option("span")
    edit.get_by_label("root spans").uncheck()
    edit.get_by_label("Span names").fill("llm, retrieve")
    edit.get_by_label("Daily spend cap (USD)").fill("")
    edit.get_by_label("skip scorer spans").uncheck()
    edit.get_by_role("button", name="Save rule").click()
    expect(row).to_contain_text("spans named llm, retrieve")
    expect(row).not_to_contain_text("cap $")
    shot(page, "polish-online-rule-edited")
    online = online_rule(api, pid)
    assert online["scorers"] == [{"type": "global", "name": "ValidJSON"}]
    assert (online["scope"], online["apply_to_root_span"], online["apply_to_span_names"]) == (
        {"type": "span"},
        False,
        ["llm", "retrieve"],
    )
    assert (online["daily_spend_cap_usd"], online["skip_logging"]) == (None, False)

    # and to a group scope: the traces of a session scored together
    row.get_by_role("button", name="Edit whole-trace").click()
    edit = page.get_by_role("form", name="Edit rule whole-trace")
    expect(edit.get_by_label("Span names")).to_have_value("llm, retrieve")
    edit.get_by_label("Scope").select_option("group")
    edit.get_by_label("Group by").fill("metadata.session_id")
    edit.get_by_label("Max traces").fill("8")
    edit.get_by_label("Placement").select_option("each")
    edit.get_by_role("button", name="Save rule").click()
    expect(row).to_contain_text("traces grouped by metadata.session_id, 30 s quiet, score on each root")
    assert online_rule(api, pid)["scope"] == {
        "type": "group",
        "idle_seconds": 30.0,
        "group_by": "metadata.session_id",
        "max_traces": 8,
        "placement": "each",
    }


def test_a_restore_refused_because_the_dataset_moved_then_done_over_the_latest(
    page: Any, seeded: Seeded, api: httpx.Client
) -> None:
    name, ds = dataset_with_history(api, seeded.project_id)
    sign_in_as(page, seeded.server.api_key, f"{seeded.project_path}/datasets/{name}")
    page.get_by_role("button", name="Versions").click()
    items = page.get_by_role("region", name="Versions").locator(".version-item")
    expect(items).to_have_count(4)
    items.last.click()  # the first write: a and b
    expect(page.get_by_role("table", name="Records")).to_contain_text("beta")
    # someone else writes while this page shows the old version
    r = api.post(f"/v1/dataset/{ds}/insert", json={"events": [{"id": "d", "input": "delta"}]})
    assert r.status_code == 200, r.text
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Restore this version").click()
    conflict = page.get_by_role("alert", name="Restore conflict")
    expect(conflict).to_contain_text("The dataset changed: nothing was restored.")
    expect(conflict).to_contain_text("changed since you looked at it")
    shot(page, "polish-restore-conflict")
    assert records(api, ds) == [("a", "alpha, edited"), ("c", "gamma"), ("d", "delta")]

    page.once("dialog", lambda d: d.accept())
    conflict.get_by_role("button", name="Restore again over the latest").click()
    expect(page.get_by_role("status").filter(has_text="Restored")).to_have_text(
        "Restored as a new version: 2 records written back, 2 deleted."
    )
    assert records(api, ds) == [("a", "alpha"), ("b", "beta")]


def test_viewers_are_told_why_loop_is_not_theirs_and_models_show_their_provider_type(
    page: Any, browser: Any, seeded: Seeded, api: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:6]
    model = f"claude-polish-{tag}"
    secret_id = ai_secret(api, f"team-claude-{tag}", "anthropic", [model])
    try:
        sign_in_as(page, seeded.server.api_key, "/app/default/settings/loop-models")
        row = page.get_by_role("table", name="Models").get_by_role("row").filter(has_text=model)
        expect(row).to_contain_text(f"anthropic · team-claude-{tag}")
        expect(row).to_contain_text("AI secret")
        expect(page.get_by_role("button", name="✦ Loop")).to_be_visible()
        shot(page, "polish-loop-models-provider")
        listed = {m["id"]: m for m in api.get("/v1/loop/models").json()["models"]}
        assert (listed[model]["provider"], listed[model]["provider_type"]) == (
            f"team-claude-{tag}",
            "anthropic",
        )

        viewer = key_of_role(api, "viewer")
        context = browser.new_context(base_url=seeded.server.url, viewport={"width": 1280, "height": 800})
        try:
            vp = context.new_page()
            sign_in_as(vp, viewer, f"{seeded.project_path}/logs")
            note = vp.get_by_label("Loop (read-only role)")
            expect(note).to_contain_text("Not available to viewers: Loop runs models and can change data.")
            expect(vp.get_by_role("button", name="✦ Loop")).to_have_count(0)
            expect(vp.get_by_role("complementary", name="Loop")).to_have_count(0)
            shot(vp, "polish-viewer-no-loop")
        finally:
            context.close()
        # what the page spares them: the server refuses a viewer's conversation
        r = httpx.post(
            f"{seeded.server.url}/v1/loop/conversations",
            json={"model": model},
            headers={"Authorization": f"Bearer {viewer}"},
            timeout=30,
        )
        assert r.status_code == 403, r.text
    finally:
        api.delete(f"/v1/ai_secret/{secret_id}")
