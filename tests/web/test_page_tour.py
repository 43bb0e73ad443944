"""Every page of the web app on the seeded server, at 1280x800 and at a narrow 900 px window: each
renders its heading, finishes loading, and does not make the window scroll sideways (wide tables
scroll inside their own box). A screenshot of each page at each width goes to the artifacts
(`tour-<page>-<width>.png`) to be looked at."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Seeded, shot, sign_in

WIDTHS = ((1280, 800), (900, 800))

# (shot name, path under /app/default, the page's heading)
PAGES = (
    ("projects", "", "Projects"),
    ("logs", "/p/{project}/logs", "Logs"),
    ("experiments", "/p/{project}/experiments", "Experiments"),
    ("experiment", "/p/{project}/experiments/candidate", "candidate"),
    ("datasets", "/p/{project}/datasets", "Datasets"),
    ("dataset", "/p/{project}/datasets/faq", "faq"),
    ("playground", "/p/{project}/playground", "Playground"),
    ("prompts", "/p/{project}/prompts", "Prompts"),
    ("sandbox", "/p/{project}/btql", "BTQL sandbox"),
    ("dashboards", "/p/{project}/dashboards", "Dashboards"),
    ("intents", "/p/{project}/intents", "Intents"),
    ("online-scoring", "/p/{project}/online-scoring", "Online scoring"),
    ("members", "/settings/members", "Members"),
    ("ai-providers", "/settings/ai-providers", "AI providers"),
    ("loop-models", "/settings/loop-models", "Loop models"),
)

# in-app navigation (the router follows history), quicker than loading the app again per page
GO = "path => { history.pushState({}, '', path); dispatchEvent(new PopStateEvent('popstate')); }"
# the page's width beyond the window's, measured in the page: what makes the window scroll sideways
OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def settle(page: Any, heading: str) -> None:
    expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
    expect(page.locator(".state-loading")).to_have_count(0)


def test_every_page_at_two_widths(page: Any, seeded: Seeded) -> None:
    sign_in(page, seeded, "/app/default")
    wide: dict[str, int] = {}
    for name, path, heading in PAGES:
        page.set_viewport_size({"width": WIDTHS[0][0], "height": WIDTHS[0][1]})
        page.evaluate(GO, "/app/default" + path.format(project=seeded.project))
        settle(page, heading)
        for width, height in WIDTHS:
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(50)  # one layout pass after the resize
            shot(page, f"tour-{name}-{width}")
            over = page.evaluate(OVERFLOW)
            if over > 0:
                wide[f"{name}@{width}"] = over
    # one dashboard with its charts, opened from the list
    page.set_viewport_size({"width": WIDTHS[0][0], "height": WIDTHS[0][1]})
    page.evaluate(GO, f"/app/default/p/{seeded.project}/dashboards")
    page.get_by_text("Blast radius").first.click()
    expect(page.locator(".recharts-surface").first).to_be_visible()
    expect(page.locator(".state-loading")).to_have_count(0)
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(50)
        shot(page, f"tour-dashboard-{width}")
        over = page.evaluate(OVERFLOW)
        if over > 0:
            wide[f"dashboard@{width}"] = over
    assert not wide, f"pages wider than the window (px beyond it): {wide}"
