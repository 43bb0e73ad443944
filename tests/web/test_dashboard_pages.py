"""Dashboards in the browser: the built-in ones render the seeded numbers, the view (range,
granularity, filters) applies to every chart, a chart opens as a sandbox query, a built-in one is
copied and its chart edited and saved, a new dashboard gets a chart, a chart's query warnings show
on its card."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx
from playwright.sync_api import expect

from tests.web.conftest import Seeded, shot, sign_in
from tests.web.test_pages import replace_editor_text


def data_table(chart: Any) -> Any:
    chart.locator("details.chart-data summary").click()
    return chart.locator("table.mini-table")


def test_builtin_dashboards_render_the_seeded_numbers(page: Any, seeded: Seeded) -> None:
    sign_in(page, seeded, seeded.project_path + "/dashboards")
    table = page.get_by_role("table", name="Dashboards")
    for name in ("Blast radius", "Tool calls", "Model errors", "Latency, tokens and cost", "Intents"):
        expect(table).to_contain_text(name)
    shot(page, "30-dashboards")
    table.get_by_role("row").filter(has_text="Blast radius").click()
    chart = page.get_by_role("region", name="Blast radius by tool / span name")
    expect(chart.locator(".recharts-wrapper")).to_contain_text("retrieve")
    rows = data_table(chart)
    # three retrieve calls, one failed (the seed's timeout): error rate 1/3, blast radius 1
    expect(rows.locator("tr").filter(has_text="retrieve")).to_contain_text(
        re.compile(r"retrieve\s*3\s*1\s*0\.333\s*1")
    )
    expect(rows.locator("tr").filter(has_text="chat-turn")).to_contain_text(
        re.compile(r"chat-turn\s*3\s*0\s*0\s*0")
    )
    expect(rows.locator("tbody tr").first).to_contain_text("retrieve")  # sorted by blast radius
    shot(page, "31-dashboard-blast-radius")

    # the view applies to every chart: a filter keeps only the retrieve spans
    page.get_by_label("Granularity").select_option("day")
    expect(page).to_have_url(re.compile(r"g=day"))
    page.get_by_label("Dashboard filter").fill("span_attributes.name = 'retrieve'")
    page.get_by_role("button", name="Add filter").click()
    expect(page).to_have_url(re.compile(r"f=span_attributes"))
    expect(rows.locator("tbody tr")).to_have_count(1)
    expect(rows).to_contain_text("retrieve")
    page.get_by_role("button", name="Remove filter span_attributes.name = 'retrieve'").click()
    expect(rows.locator("tbody tr")).to_have_count(3)
    page.get_by_label("Dashboard filter").fill("span_attributes.name = ")
    page.get_by_role("button", name="Add filter").click()
    expect(page.get_by_role("alert").first).to_contain_text("could not be applied")
    page.get_by_role("button", name=re.compile("^Remove filter")).click()

    # tokens by model: the seeded LLM spans' prompt tokens (20 + 21 + 22)
    page.goto(seeded.project_path + "/dashboards/builtin%3Aperformance")
    tokens = page.get_by_role("region", name="Tokens by model")
    expect(tokens.locator(".recharts-bar-rectangle").first).to_be_visible()
    expect(data_table(tokens)).to_contain_text(re.compile(r"gpt-4o-mini\s*63\s*27"))
    shot(page, "32-dashboard-performance")

    # a chart opens as a query in the sandbox, with the view composed in
    page.get_by_role("region", name="Cost by model").get_by_role("button", name="Open as query").click()
    expect(page).to_have_url(re.compile(r"/btql\?q="))
    expect(page.get_by_role("textbox", name="BTQL query")).to_contain_text("metrics.estimated_cost")
    expect(page.get_by_role("status", name="Query status")).to_contain_text("Valid")
    shot(page, "33-chart-as-query")


def test_copy_edit_a_chart_and_create_a_dashboard(page: Any, seeded: Seeded) -> None:
    sign_in(page, seeded, seeded.project_path + "/dashboards/builtin%3Ablast-radius")
    # built-ins are read-only: once the page (and the caller's role) has loaded, no chart has an
    # exact "Edit" button ("Save a copy to edit" matches the name as a substring)
    expect(page.get_by_role("button", name="Save a copy to edit")).to_be_visible()
    expect(page.get_by_role("region", name="Blast radius by tool / span name")).to_be_visible()
    expect(page.get_by_role("button", name="Edit", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Save a copy to edit").click()
    expect(page.get_by_role("heading", name="Blast radius (copy)")).to_be_visible()
    chart = page.get_by_role("region", name="Blast radius by tool / span name")
    chart.get_by_role("button", name="Edit", exact=True).click()
    editor = page.get_by_role("dialog")
    editor.get_by_label("Chart title").fill("Spans by name")
    replace_editor_text(
        page,
        "dimensions: span_attributes.name AS name\n| measures: count(1) AS spans, sum(metrics.tokens) AS tokens\n| sort: name",
        "Chart query",
    )
    editor.get_by_label("Series").fill("spans, tokens")
    expect(editor.locator(".cm-lintRange-error")).to_have_count(0)
    shot(page, "34-chart-editor")
    editor.get_by_role("button", name="Save chart").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    edited = page.get_by_role("region", name="Spans by name")
    expect(data_table(edited)).to_contain_text(re.compile(r"chat\.completions\s*3\s*90"))
    # a bad query is underlined in the editor and refused by the server with its position
    edited.get_by_role("button", name="Edit", exact=True).click()
    replace_editor_text(
        page,
        "dimensions: span_attributes.name AS name\n| measures: count(1) AS spans, sum(nosuch AS x",
        "Chart query",
    )
    expect(page.get_by_role("dialog").locator(".cm-lintRange-error")).to_have_count(1)
    page.get_by_role("dialog").get_by_role("button", name="Save chart").click()
    expect(page.get_by_role("dialog").get_by_role("alert")).to_contain_text("line 2")
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    shot(page, "35-dashboard-copy-edited")

    page.goto(seeded.project_path + "/dashboards")
    page.get_by_role("button", name="New dashboard").click()
    page.get_by_label("Dashboard name").fill("On-call")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="On-call")).to_be_visible()
    expect(page.get_by_text("This dashboard has no charts yet")).to_be_visible()
    page.get_by_role("button", name="Add chart").first.click()
    page.get_by_role("dialog").get_by_label("Chart title").fill("Spans per hour")
    page.get_by_role("dialog").get_by_role("button", name="Save chart").click()
    page.get_by_label("Granularity").select_option("month")
    spans = page.get_by_role("region", name="Spans per hour")
    expect(spans.locator(".recharts-line")).to_have_count(1)
    expect(data_table(spans).locator("tbody tr")).to_have_text(
        [re.compile(r"Z?\s*9$")]
    )  # the 3 traces' 9 spans
    shot(page, "36-new-dashboard")


def test_a_charts_warnings_show_on_its_card(page: Any, seeded: Seeded, api: httpx.Client) -> None:
    # a key that is no field is read as an extra top-level key (empty here): the chart answers with
    # the binder's hint, shown on the card as a warning, not as a failure
    chart = {
        "id": "intents",
        "title": "Turns by tier",
        "query": "dimensions: customer_tier AS tier | measures: count(1) AS n",
        "spec": {"type": "bar", "x": "tier", "series": ["n"], "units": "count"},
    }
    r = api.post("/dashboards", json={"project_id": seeded.project_id, "name": "Warned", "charts": [chart]})
    assert r.status_code == 200, r.text
    did = r.json()["id"]
    try:
        sign_in(page, seeded, f"{seeded.project_path}/dashboards/{quote(did, safe='')}")
        card = page.get_by_role("region", name="Turns by tier")
        note = card.get_by_role("note", name="Chart warnings")
        expect(note).to_be_visible()
        expect(note).to_contain_text("Warning")
        expect(note).to_contain_text("'customer_tier' is not a known field")
        expect(card.locator(".recharts-wrapper")).to_be_visible()  # the chart is still drawn
        expect(card.get_by_role("alert")).to_have_count(0)
        expect(card).not_to_contain_text("This chart failed")
        note.scroll_into_view_if_needed()
        shot(page, "37-dashboard-chart-warning")
    finally:
        api.delete(f"/dashboards/{did}")
