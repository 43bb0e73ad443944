"""`loopline classifier dataset|evaluate|retrain|discover|accept|stats`: each verb calls its route
with the body its flags say (the routes themselves: tests/test_classifier_loop.py and friends)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from loopline.cli import classifier_loop
from loopline.cli.main import app


class FakeApi:
    calls: list[tuple[str, str, Any, dict[str, Any]]] = []

    def __init__(self, url: str | None, api_key: str | None) -> None:
        assert api_key == "k"

    def classifier_id(self, project: str, ref: str) -> str:
        return "c1" if ref == "Intent" else ref

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        FakeApi.calls.append((method, path, body, params))
        return {"ok": True}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> type[FakeApi]:
    FakeApi.calls = []
    monkeypatch.setattr(classifier_loop, "Api", FakeApi)
    return FakeApi


def run(*args: str) -> Any:
    r = CliRunner().invoke(app, ["classifier", *args, "--api-key", "k"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


BASE = "/v1/project/p1/classifier/c1"


@pytest.mark.parametrize(
    ("args", "path", "body"),
    [
        (["dataset", "Intent", "-p", "p1", "--name", "gold"], f"{BASE}/dataset", {"name": "gold"}),
        (
            [
                "dataset",
                "Intent",
                "-p",
                "p1",
                "--source",
                "human",
                "--source",
                "model",
                "--min-confidence",
                "0.9",
            ],
            f"{BASE}/dataset",
            {"sources": ["human", "model"], "min_confidence": 0.9},
        ),
        (
            [
                "evaluate",
                "Intent",
                "-p",
                "p1",
                "--dataset-id",
                "d1",
                "--version",
                "2",
                "--base-experiment",
                "e1",
            ],
            f"{BASE}/evaluate",
            {"dataset_id": "d1", "version": 2, "base_experiment_id": "e1"},
        ),
        (["retrain", "Intent", "-p", "p1"], f"{BASE}/retrain", {"corrections": True}),
        (
            ["retrain", "Intent", "-p", "p1", "--no-corrections", "--dataset-id", "d1"],
            f"{BASE}/retrain",
            {"corrections": False, "dataset_id": "d1"},
        ),
        (
            ["discover", "Intent", "-p", "p1", "--no-llm", "--days", "3"],
            f"{BASE}/discover",
            {"days": 3, "llm": False},
        ),
        (
            ["accept", "Intent", "-p", "p1", "add_page", "--description", "adding pages", "-e", "add a page"],
            f"{BASE}/accept",
            {"name": "add_page", "description": "adding pages", "examples": ["add a page"]},
        ),
    ],
)
def test_verbs_post_their_bodies(
    api: type[FakeApi], args: list[str], path: str, body: dict[str, Any]
) -> None:
    assert run(*args) == {"ok": True}
    assert api.calls == [("POST", path, body, {})]


def test_accept_from_a_saved_discover_answer(api: type[FakeApi], tmp_path: Path) -> None:
    saved = tmp_path / "proposals.json"
    saved.write_text(
        json.dumps(
            {"proposals": [{"name": "app_docs", "description": "docs", "examples": ["write a readme"]}]}
        )
    )
    run("accept", "Intent", "-p", "p1", "app_docs", "--from", str(saved), "--rename", "readme")
    assert api.calls[-1][2] == {"name": "readme", "description": "docs", "examples": ["write a readme"]}
    r = CliRunner().invoke(
        app, ["classifier", "accept", "Intent", "-p", "p1", "nope", "--from", str(saved), "--api-key", "k"]
    )
    assert r.exit_code == 2 and "app_docs" in r.output


def test_stats_reads(api: type[FakeApi]) -> None:
    run("stats", "Intent", "-p", "p1", "--days", "14")
    assert api.calls == [("GET", f"{BASE}/stats", None, {"days": 14, "limit": None})]
