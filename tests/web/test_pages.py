"""The web app in Chromium against a running, SDK-seeded Loopline: sign in, logs and traces,
filters, the BTQL sandbox's error underline, experiments, datasets; a screenshot of each page."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.web.conftest import Seeded, shot, sign_in


def test_sign_in_rejects_bad_keys_then_signs_in_and_out(page: Any, seeded: Seeded) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/app/login"))
    page.get_by_role("tab", name="API key").click()
    page.get_by_label("API key").fill("sk-not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    shot(page, "01-sign-in-rejected")
    page.get_by_label("API key").fill(seeded.server.api_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(seeded.project))).to_be_visible()
    shot(page, "02-projects")
    assert page.evaluate("Object.keys(sessionStorage)") == ["loopline.session"]
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/app/login"))
    expect(page.get_by_text("You signed out.")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    page.goto(seeded.project_path + "/logs")  # a deep link needs signing in again, then returns
    expect(page).to_have_url(re.compile(r"/app/login\?next="))
    page.get_by_label("API key").fill(seeded.server.api_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(seeded.project_path + "/logs")))


def test_logs_show_traces_and_the_span_tree(page: Any, seeded: Seeded) -> None:
    sign_in(page, seeded, seeded.project_path + "/logs")
    table = page.get_by_role("table", name="Traces")
    expect(table.get_by_role("row")).to_have_count(4)  # header + 3 traces
    expect(table).to_contain_text("What is the refund policy?")
    shot(page, "03-logs")
    table.get_by_role("row").filter(has_text="refund policy").click()
    tree = page.get_by_role("tree", name="Span tree")
    expect(tree.get_by_role("treeitem")).to_have_count(3)
    for name in ("chat-turn", "retrieve", "chat.completions"):
        expect(tree).to_contain_text(name)
    # the root span: its input as JSON, its scores and metadata
    detail = page.locator(".span-detail")
    expect(detail.get_by_role("region", name="Scores")).to_contain_text("helpfulness")
    expect(detail.get_by_role("region", name="Metadata")).to_contain_text("support")
    tree.get_by_role("treeitem").filter(has_text="chat.completions").click()
    expect(page).to_have_url(re.compile(r"[?&]s="))
    inp = detail.get_by_role("region", name="Input")
    expect(inp.locator(".message[data-role=system]")).to_contain_text("helpful support agent")
    expect(inp.locator(".message[data-role=user]")).to_contain_text("What is the refund policy?")
    out = detail.get_by_role("region", name="Output")
    expect(out.locator(".message[data-role=assistant]")).to_contain_text(
        "Refunds are accepted within 30 days."
    )
    expect(detail.get_by_role("region", name="Metrics")).to_contain_text("prompt_tokens")
    shot(page, "04-trace-span-tree")
    # collapsing the root hides its children; a reload keeps the open trace and span (URL state)
    tree.get_by_role("button", name="Collapse").click()
    expect(tree.get_by_role("treeitem")).to_have_count(1)
    page.reload()
    expect(page.locator(".span-detail").get_by_role("region", name="Input")).to_contain_text("refund policy")
    page.get_by_role("button", name="Close trace").click()
    expect(page.get_by_role("tree", name="Span tree")).to_have_count(0)
    table.get_by_role("row").filter(has_text="reset my password").focus()  # the keyboard opens traces too
    page.keyboard.press("Enter")
    expect(page.get_by_role("tree", name="Span tree").get_by_role("treeitem")).to_have_count(3)


# how far the window, the logs page and its table scroll sideways (0 each: none)
SIDEWAYS = """() => [
    document.documentElement,
    document.querySelector('.page-main'),
    document.querySelector('[role=table][aria-label=Traces] .dt-scroll'),
].map(e => e.scrollWidth - e.clientWidth)"""


def test_logs_fit_a_900_px_window(page: Any, seeded: Seeded) -> None:
    page.set_viewport_size({"width": 900, "height": 800})
    sign_in(page, seeded, seeded.project_path + "/logs")
    table = page.get_by_role("table", name="Traces")
    expect(table.get_by_role("row")).to_have_count(4)
    # the main columns stay; the lower ones are dropped rather than scrolled to
    header = table.get_by_role("row").first
    for name in ("Time", "Name", "Input", "Output"):
        expect(header.get_by_role("columnheader", name=re.compile(f"^{name}$", re.I))).to_be_visible()
    for name in ("Tokens", "Duration"):
        expect(header.get_by_role("columnheader", name=re.compile(f"^{name}$", re.I))).to_have_count(0)
    refund = table.get_by_role("row").filter(has_text="refund policy")
    expect(refund).to_contain_text("Refunds are accepted within 30 days.")
    expect(refund).to_contain_text("chat-turn")
    page.wait_for_timeout(50)  # one layout pass after the columns were fitted
    shot(page, "03b-logs-900")
    assert page.evaluate(SIDEWAYS) == [0, 0, 0]
    # wider again, the dropped columns come back
    page.set_viewport_size({"width": 1440, "height": 900})
    expect(header.get_by_role("columnheader", name=re.compile("^Tokens$", re.I))).to_be_visible()
    expect(refund).to_contain_text("helpfulness")


def test_filter_and_search_logs(page: Any, seeded: Seeded) -> None:
    sign_in(page, seeded, seeded.project_path + "/logs")
    table = page.get_by_role("table", name="Traces")
    expect(table.get_by_role("row")).to_have_count(4)
    page.get_by_label("Filter (BTQL)").fill("metadata.intent = 'billing'")
    page.get_by_role("button", name="Apply").click()
    expect(table.get_by_role("row")).to_have_count(2)
    expect(table).to_contain_text("Cancel my subscription")
    expect(page).to_have_url(re.compile(r"filter=metadata.intent"))
    shot(page, "05-logs-filtered")
    page.get_by_role("button", name="Clear").click()
    page.get_by_label("Search").fill("password")
    page.get_by_label("Search").press("Enter")
    expect(table.get_by_role("row")).to_have_count(2)
    expect(table).to_contain_text("reset my password")
    page.get_by_label("Search").fill("")
    page.get_by_label("Filter (BTQL)").fill("scores.helpfulness >")
    page.get_by_role("button", name="Apply").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The filter could not be applied")
    expect(alert).to_contain_text("ParseError")
    shot(page, "06-logs-bad-filter")
    page.get_by_label("Filter (BTQL)").fill("metadata.intent = 'nothing-like-this'")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("No traces match these filters")).to_be_visible()


def replace_editor_text(page: Any, text: str, name: str = "BTQL query") -> None:
    editor = page.get_by_role("textbox", name=name)
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def test_bad_btql_is_underlined_with_its_message(page: Any, seeded: Seeded) -> None:
    sign_in(page, seeded, seeded.project_path + "/btql")
    status = page.get_by_role("status", name="Query status")
    expect(status).to_contain_text("Valid")  # the starter query of the project
    replace_editor_text(page, f"select: id, input\n| from: project_logz('{seeded.project_id}')\n| limit: 5")
    underline = page.locator(".cm-lintRange-error")
    expect(underline).to_have_count(1)
    expect(underline).to_have_text("project_logz")
    expect(status).to_contain_text("BindError at line 2, column 9")
    underline.hover()
    tooltip = page.locator(".cm-tooltip-lint")
    expect(tooltip).to_contain_text("unknown data source 'project_logz'; did you mean 'project_logs'?")
    shot(page, "07-btql-error-underlined")
    replace_editor_text(
        page,
        f"select: id, input\n| from: project_logs('{seeded.project_id}')\n| filter: input ILIKE '%refund",
    )
    expect(underline).to_have_text("'%refund")
    expect(status).to_contain_text("ParseError")
    replace_editor_text(
        page,
        f"select: span_attributes.name as name, count(1) as n\n| from: project_logs('{seeded.project_id}')",
    )
    expect(status).to_contain_text("BindError")  # an aggregate in select: is a bind error
    replace_editor_text(
        page,
        f"dimensions: span_attributes.name as name\n| measures: count(1) as n\n| from: project_logs('{seeded.project_id}')\n| sort: name",
    )
    expect(status).to_contain_text("Valid")
    expect(underline).to_have_count(0)
    page.get_by_role("button", name=re.compile("^Run")).click()
    results = page.get_by_role("table", name="Results")
    expect(results.get_by_role("row")).to_have_count(4)  # header + chat-turn, chat.completions, retrieve
    expect(results.get_by_role("row").nth(1)).to_contain_text("chat-turn")
    expect(results.get_by_role("row").nth(1)).to_contain_text("3")
    shot(page, "08-btql-results")


def test_experiment_scores_rows_and_trace(page: Any, seeded: Seeded) -> None:
    sign_in(page, seeded, seeded.project_path + "/experiments")
    table = page.get_by_role("table", name="Experiments")
    expect(table.get_by_role("row")).to_have_count(3)
    shot(page, "09-experiments")
    table.get_by_role("row").filter(has_text="candidate").click()
    expect(page).to_have_url(re.compile(r"/experiments/candidate$"))
    expect(page.get_by_text("compared with baseline")).to_be_visible()
    exact = page.locator("[data-score=ExactMatch]")
    expect(exact).to_contain_text("80.0%")
    expect(exact).to_contain_text("+40.0pp")
    expect(exact).to_contain_text("2 improved · 0 regressed")
    expect(page.locator("[aria-label='Scores chart'] .recharts-bar-rectangle")).to_have_count(4)
    rows = page.get_by_role("table", name="Traces")
    expect(rows.get_by_role("row")).to_have_count(6)  # header + 5 rows
    shot(page, "10-experiment")
    rows.get_by_role("row").filter(has_text="word4").first.click()
    detail = page.locator(".span-detail")
    expect(detail.get_by_role("region", name="Expected")).to_contain_text("word4")
    page.get_by_role("tree", name="Span tree").get_by_role("treeitem").filter(has_text="ExactMatch").click()
    expect(detail.get_by_role("region", name="Scores")).to_contain_text("ExactMatch")
    shot(page, "11-experiment-trace")


def test_datasets_and_records(page: Any, seeded: Seeded) -> None:
    sign_in(page, seeded, seeded.project_path + "/datasets")
    page.get_by_role("table", name="Datasets").get_by_role("row").filter(has_text="faq").click()
    records = page.get_by_role("table", name="Records")
    expect(records.get_by_role("row")).to_have_count(4)
    records.get_by_role("row").filter(has_text="refund policy").click()
    panel = page.get_by_role("complementary", name="Record")
    expect(panel.get_by_role("region", name="Expected")).to_contain_text(
        "Refunds are accepted within 30 days."
    )
    shot(page, "12-dataset")


def test_unknown_pages_and_api_paths(page: Any, seeded: Seeded) -> None:
    sign_in(page, seeded)
    page.goto("/app/default/p/no-such-project/logs")
    expect(page.get_by_text("No project named “no-such-project”")).to_be_visible()
    page.goto("/app/default/somewhere/else")
    expect(page.get_by_text("This page does not exist")).to_be_visible()
    api = page.request.get("/v1/project")  # API paths are the API's, not the app's
    assert api.status == 401 and api.json()["error"]["message"].startswith("missing API key")


def test_live_refresh_shows_new_traces(page: Any, seeded: Seeded) -> None:
    """An empty project says how to log to it; with Live on, a trace logged meanwhile appears."""
    client = httpx.Client(base_url=seeded.server.url, headers=seeded.server.headers, timeout=30)
    name = f"live-{uuid.uuid4().hex[:6]}"
    pid = client.post("/v1/project", json={"name": name}).json()["id"]
    sign_in(page, seeded, f"/app/default/p/{name}/logs")
    expect(page.get_by_text("No logs yet")).to_be_visible()
    expect(page.locator(".code-block")).to_contain_text(f'init_logger(project="{name}")')
    page.get_by_role("checkbox", name="Live").check()
    row = {
        "id": "live-1",
        "project_id": pid,
        "log_id": "g",
        "input": "a question logged just now",
        "output": "ok",
    }
    assert client.post("/logs3", json={"rows": [row]}).status_code == 200
    table = page.get_by_role("table", name="Traces")
    expect(table).to_contain_text("a question logged just now", timeout=20_000)
    shot(page, "13-logs-live")


def test_compare_an_experiment_with_its_base(page: Any, seeded: Seeded) -> None:
    """candidate vs baseline: word2 and word3 improved, word4 regressed ('word4x' → 'nope')."""
    sign_in(page, seeded, seeded.project_path + "/experiments/candidate")
    page.get_by_role("tab", name="Compare with baseline").click()
    table = page.get_by_role("table", name="Comparison")
    expect(table.get_by_role("row")).to_have_count(6)  # header + 5 rows matched by input
    expect(page.get_by_role("button", name="Regressions (1)")).to_be_visible()
    expect(page.get_by_role("button", name="Improvements (2)")).to_be_visible()
    expect(page.get_by_role("button", name="Output changed (3)")).to_be_visible()
    shot(page, "14-experiment-compare")
    page.get_by_role("button", name="Regressions (1)").click()
    expect(table.get_by_role("row")).to_have_count(2)
    row = table.get_by_role("row").nth(1)
    expect(row).to_contain_text("regressed")
    expect(row.locator("del")).to_have_text("word4x")
    expect(row.locator("ins")).to_have_text("nope")
    row.click()
    panel = page.get_by_role("complementary", name="Row comparison")
    expect(panel.get_by_role("region", name="Output diff").locator("del")).to_have_text("word4x")
    changes = panel.get_by_role("region", name="Score changes")
    expect(changes.locator("tr").filter(has_text="Levenshtein")).to_contain_text(
        re.compile("83.3%\\s*20.0%\\s*\\u221263.3pp")
    )
    expect(changes.locator("tr").filter(has_text="ExactMatch")).to_contain_text("±0")
    shot(page, "15-experiment-compare-row")
    # one score at a time: ExactMatch has improvements only
    page.get_by_label("Score to compare").select_option("ExactMatch")
    expect(page.get_by_role("button", name="Regressions (0)")).to_be_visible()
    page.get_by_role("button", name="Improvements (2)").click()
    expect(table).to_contain_text("word2")
    expect(table).to_contain_text("word3")
    # comparing the other way round, chosen in the page
    page.goto(seeded.project_path + "/experiments/baseline?tab=compare&base=candidate")
    expect(page.locator(".page-header .subtitle")).to_have_text("compared with candidate")
    expect(page.get_by_role("button", name="Regressions (2)")).to_be_visible()


def test_add_log_rows_to_a_dataset_then_edit_it_and_read_its_versions(page: Any, seeded: Seeded) -> None:
    name = f"from-logs-{uuid.uuid4().hex[:6]}"
    sign_in(page, seeded, seeded.project_path + "/logs")
    table = page.get_by_role("table", name="Traces")
    for text in ("refund policy", "reset my password"):
        table.get_by_role("row").filter(has_text=text).get_by_role("checkbox").check()
    expect(page.get_by_role("tree", name="Span tree")).to_have_count(0)  # choosing does not open a trace
    bar = page.get_by_role("form", name="Add to dataset")
    expect(bar).to_contain_text("2 traces selected")
    bar.get_by_label("Dataset").select_option("__new__")
    bar.get_by_label("New dataset name").fill(name)
    shot(page, "16-logs-add-to-dataset")
    bar.get_by_role("button", name="Add to dataset").click()
    expect(page.get_by_role("status").filter(has_text="Added 2 records")).to_be_visible()
    page.get_by_role("link", name=name).click()

    records = page.get_by_role("table", name="Records")
    expect(records.get_by_role("row")).to_have_count(3)
    records.get_by_role("row").filter(has_text="refund policy").click()
    panel = page.get_by_role("complementary", name="Record")
    # the log row's shape: its output became the record's expected, its metadata came along
    expect(panel.get_by_role("region", name="Expected")).to_contain_text(
        "Refunds are accepted within 30 days."
    )
    expect(panel.get_by_role("region", name="Metadata")).to_contain_text("support")

    page.get_by_role("button", name="Add record").click()
    editor = page.get_by_role("form", name="New record")
    editor.get_by_role("textbox", name="Input").fill('{"question": "Do you ship abroad?"}')
    editor.get_by_role("textbox", name="Expected").fill("{oops")
    editor.get_by_role("button", name="Add record").click()
    expect(editor.get_by_role("alert")).to_contain_text("expected: not valid JSON")
    editor.get_by_role("textbox", name="Expected").fill('"Yes, to 30 countries."')
    editor.get_by_role("button", name="Add record").click()
    expect(records.get_by_role("row")).to_have_count(4)

    records.get_by_role("row").filter(has_text="ship abroad").click()
    panel.get_by_role("button", name="Edit").click()
    panel.get_by_role("textbox", name="Expected").fill('"No, only at home."')
    panel.get_by_role("button", name="Save record").click()
    expect(panel.get_by_role("region", name="Expected")).to_contain_text("No, only at home.")
    expect(records.get_by_role("row").filter(has_text="ship abroad")).to_contain_text("No, only at home.")
    shot(page, "17-dataset-edited")

    page.once("dialog", lambda d: d.accept())
    panel.get_by_role("button", name="Delete").click()
    expect(records.get_by_role("row")).to_have_count(3)
    expect(records).not_to_contain_text("ship abroad")

    # versions: the add from the logs, the new record, its edit, its deletion
    page.get_by_role("button", name="Versions").click()
    versions = page.get_by_role("region", name="Versions")
    items = versions.locator(".version-item")
    expect(items).to_have_count(5)  # "Latest" + 4 writes
    expect(items.nth(1)).to_contain_text("1 deleted")
    expect(items.nth(4)).to_contain_text("2 written")
    items.nth(2).click()  # as of the edit: the edited record is there
    expect(page.get_by_role("status").filter(has_text="read-only")).to_be_visible()
    expect(records.get_by_role("row")).to_have_count(4)
    expect(records).to_contain_text("No, only at home.")
    expect(page.get_by_role("button", name="Add record")).to_have_count(0)
    shot(page, "18-dataset-version")
    items.nth(4).click()
    expect(records.get_by_role("row")).to_have_count(3)
    expect(records).not_to_contain_text("ship abroad")
    page.get_by_role("button", name="Back to latest").click()
    expect(page).not_to_have_url(re.compile(r"version="))
