"""The classifier end to end, on both bus backends: the real braintrust SDK logs chat-shaped traces,
`loopline classifier …` (the CLI) manages the taxonomy, corrections and backfill, and labels are
read back through BTQL: new spans get labels, a backfill labels old spans exactly once, a human
correction survives a later model pass, a taxonomy change puts the new version on new spans."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from loopline.cli.main import app
from tests.e2e.conftest import Api, run_flow, unique_project
from tests.support.running import RunningLoopline

TAXONOMY = {
    "facet": "Intent",
    "labels": [
        {"name": "refund", "description": "wants money back", "examples": ["I want a refund", "money back"]},
        {"name": "card_lost", "description": "lost or stolen card", "examples": ["I lost my card"]},
        {"name": "weather", "description": "weather forecast questions", "examples": ["will it rain"]},
    ],
    "threshold": 0.0,
}


def cli(server: RunningLoopline, *args: str) -> Any:
    r = CliRunner().invoke(app, ["classifier", *args, "--url", server.url, "--api-key", server.api_key])
    assert r.exit_code == 0, (args, r.output)
    return json.loads(r.stdout[r.stdout.index("{") :])


def btql(api: Api, query: str) -> list[dict[str, Any]]:
    r = api.client.post("/btql", json={"query": query})
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def intents(
    api: Api, pid: str, ids: list[str], version: str | None = None, timeout_s: float = 120
) -> dict[str, Any]:
    """Row id → its Intent item through BTQL, once every id has one (of `version`, if given)."""
    quoted = ", ".join(f"'{i}'" for i in ids)
    q = f"select: id, classifications | from: project_logs('{pid}') | filter: id in [{quoted}] | limit: 1000"
    deadline = time.monotonic() + timeout_s
    while True:
        got = {
            r["id"]: r["classifications"]["Intent"][0]
            for r in btql(api, q)
            if (r.get("classifications") or {}).get("Intent")
        }
        ok = set(ids) <= got.keys() and (
            version is None or all(got[i]["source"]["version"] == version for i in ids)
        )
        if ok:
            return got
        assert time.monotonic() < deadline, f"not labelled in time: {sorted(set(ids) - got.keys())} {got}"
        time.sleep(0.3)


def test_sdk_traces_get_labels_backfill_corrections_versions(
    server: RunningLoopline, api: Api, tmp_path: Path
) -> None:
    project = unique_project("clf")
    pid = api.project_id(project)
    old = run_flow(server, sys.executable, "chat_old", project)["ids"]  # before any classifier
    # "before any classifier" means processed before it: the consumer has seen the old spans'
    # notices (under load it lags, and would label them with the classifier created next)
    btql(api, f"select: id | from: project_logs('{pid}') | limit: 1")  # the writer applied them
    deadline = time.monotonic() + 60
    while api.client.get("/v1/classifier/status").json()["consumer"]["lag"] != 0:
        assert time.monotonic() < deadline, "the classifier's consumer did not catch up"
        time.sleep(0.3)

    spec = tmp_path / "taxonomy.json"
    spec.write_text(json.dumps(TAXONOMY))
    created = cli(server, "create", "--project", pid, "--file", str(spec))
    cid = created["id"]
    assert created["version"] == 1 and [lab["name"] for lab in created["labels"]] == [
        "refund",
        "card_lost",
        "weather",
    ]

    started = time.monotonic()
    new = run_flow(server, sys.executable, "chat_new", project)["ids"]
    got = intents(api, pid, new)
    print(
        f"\n[{server.bus.split(':')[0]}] 3 SDK traces labelled and visible in BTQL {time.monotonic() - started:.1f}s after the flow started"
    )
    assert [got[i]["label"] for i in new] == ["refund", "card_lost", "weather"]
    assert got[new[0]]["source"] == {"type": "model", "id": cid, "version": "1"}
    refunds = btql(
        api, f"select: id | from: project_logs('{pid}') | filter: classifications.Intent[0].label = 'refund'"
    )
    assert {r["id"] for r in refunds} == {new[0]}
    # the old spans and the child spans have no label yet
    rows = api.fetch("project_logs", pid)
    assert {r["id"] for r in rows if not (r.get("classifications") or {}).get("Intent")} == {
        *old,
        *(r["id"] for r in rows if not r["is_root"]),
    }

    # backfill: the old spans get version 1 exactly once
    job = cli(server, "backfill", "--project", pid, "Intent", "--poll-s", "0.3")
    assert (job["state"], job["scanned"], job["labelled"], job["unchanged"]) == ("done", 6, 3, 3), job
    got = intents(api, pid, old)
    assert [got[i]["label"] for i in old] == ["refund", "card_lost", "refund"]
    again = cli(server, "backfill", "--project", pid, cid, "--poll-s", "0.3")
    assert (again["labelled"], again["unchanged"]) == (0, 6), again

    # a person corrects a span; a new version and a later model pass (backfill) leave it alone
    cli(server, "correct", "--project", pid, "Intent", "--span", new[2], "--label", "refund")
    deadline = time.monotonic() + 60
    while intents(api, pid, [new[2]])[new[2]]["source"]["type"] != "human":
        assert time.monotonic() < deadline, "the correction never became visible"
        time.sleep(0.3)
    changed = cli(
        server, "update", "--project", pid, "Intent", "--file", str(spec),
        "--label", "refund: wants money back", "--label", "card_lost: lost or stolen card",
        "--label", "weather: weather forecast", "--label", "account_access: login or password problems",
        "--example", "account_access=I cannot log in", "--example", "account_access=reset my password",
        "--example", "refund=money back", "--example", "card_lost=I lost my card",
    )  # fmt: skip
    assert changed["version"] == 2
    more = run_flow(server, sys.executable, "chat_more", project)["ids"]
    got = intents(api, pid, more, version="2")
    assert [got[i]["label"] for i in more] == ["account_access", "refund"]
    earlier = intents(api, pid, [*old, *new[:2]])
    assert {earlier[i]["source"]["version"] for i in [*old, *new[:2]]} == {"1"}  # old ones only on request
    pass2 = cli(server, "backfill", "--project", pid, "Intent", "--poll-s", "0.3")
    assert (pass2["version"], pass2["scanned"], pass2["labelled"]) == (2, 8, 5), pass2
    got = intents(api, pid, [*old, *new, *more], version=None)
    assert got[new[2]]["source"]["type"] == "human" and got[new[2]]["label"] == "refund"
    assert {got[i]["source"]["version"] for i in [*old, *new[:2], *more]} == {"2"}

    # the improvement loop: labelled spans → a dataset (one call) → an experiment of version 2
    # with accuracy and per-label precision/recall as scores, read back as the SDK reads them
    exported = cli(
        server, "dataset", "--project", pid, "Intent", "--name", f"{project}-gold", "--source", "human",
        "--source", "model",
    )  # fmt: skip
    ds = exported["dataset_id"]
    assert exported["records"] == 8, exported
    deadline = time.monotonic() + 60
    while len(api.client.post(f"/v1/dataset/{ds}/fetch", json={"limit": 100}).json()["events"]) < 8:
        assert time.monotonic() < deadline, "the dataset records never became visible"
        time.sleep(0.3)
    evaluated = cli(server, "evaluate", "--project", pid, "Intent", "--dataset-id", ds)
    summary = api.client.get(
        f"/v1/experiment/{evaluated['experiment_id']}/summarize", params={"summarize_scores": "true"}
    ).json()
    scores = summary["scores"]
    assert "accuracy" in scores and "recall/refund" in scores and "precision/refund" in scores, scores
    assert scores["accuracy"]["score"] == evaluated["accuracy"], (scores, evaluated)

    # the rest of the loop through the CLI, against the real API: the correction retrains the next
    # version; the label reads (distribution, error rate, blast radius); discovery on a facet with
    # no labels yet clusters every root span, and a label accepted into it is its next version
    retrained = cli(server, "retrain", "--project", pid, "Intent")
    assert retrained["retrained"] and retrained["classifier"]["version"] == 3, retrained
    assert (retrained["previous_version"], retrained["corrections"]) == (2, 1), retrained
    assert "will it rain in Paris?" in next(
        lab["examples"] for lab in retrained["classifier"]["labels"] if lab["name"] == "refund"
    )
    stats = cli(server, "stats", "--project", pid, "Intent", "--days", "7")
    assert stats["classified_traces"]["current"] == 8 and stats["labels"][0]["label"] == "refund", stats
    assert sum(x["current"] for x in stats["labels"]) == 8 and stats["queries"]["distribution"]
    topic = tmp_path / "topic.json"
    topic.write_text(json.dumps({"facet": "Topic", "labels": []}))
    tid = cli(server, "create", "--project", pid, "--file", str(topic))["id"]
    found = cli(server, "discover", "--project", pid, "Topic", "--no-llm", "--min-cluster-size", "2")
    assert (found["texts"], found["source"]) == (8, "all root spans (no labels yet)"), found
    roots = {*old, *new, *more}
    assert all(set(p["span_ids"]) <= roots and p["size"] >= 2 for p in found["proposals"]), found
    accepted = cli(
        server, "accept", "--project", pid, "Topic", "banking", "--description", "cards and refunds",
        "--example", "I lost my card",
    )  # fmt: skip
    assert accepted["added"] == ["banking"] and accepted["classifier"]["version"] == 2, accepted
    assert cli(server, "delete", "--project", pid, tid)["id"] == tid

    # previews, reads and status through the CLI
    preview = cli(server, "classify", "--project", pid, "Intent", "I forgot my password")
    assert preview["results"][0]["label"] == "account_access"
    assert cli(server, "get", "--project", pid, "Intent", "--version", "1")["version"] == 1
    assert [c["id"] for c in cli(server, "list", "--project", pid)["objects"]] == [cid]
    status = cli(server, "status", "--project", pid)
    assert status["consumer"]["running"] is True and len(status["project"]["backfills"]) == 3
    assert cli(server, "delete", "--project", pid, cid)["id"] == cid
    r = CliRunner().invoke(
        app, ["classifier", "get", "--project", pid, cid, "--url", server.url, "--api-key", server.api_key]
    )
    assert r.exit_code == 1 and "no classifier" in r.output
