"""The real braintrust SDK (newest installable, and 0.34.x legacy) against a running Loopline.

Each flow runs in its own process (the SDK keeps global state); the test then reads back over
HTTP and checks merged fields, span trees, scores, comparisons and deletions.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Api, run_flow, unique_project
from tests.support.running import RunningLoopline


def test_logger_spans_update_feedback(server: RunningLoopline, sdk: str, api: Api) -> None:
    project = unique_project("logger")
    out = run_flow(server, sdk, "logger", project)
    pid = api.project_id(project)
    rows = api.fetch("project_logs", pid)
    by_id = {r["id"]: r for r in rows}
    root = by_id[out["root_id"]]
    assert root["input"] == {"question": "hi"} and root["output"] == "hello" and root["expected"] == "hello"
    assert root["span_parents"] is None and root["is_root"] is True
    assert root["metadata"]["user"] == "u1"
    assert root["metadata"]["updated"] is True  # update_span merged
    assert root["tags"] == ["t1"]
    assert root["scores"]["exact"] == 1 and root["scores"]["thumbs"] == 1  # feedback merged, not replaced
    assert root["span_attributes"]["name"] == "root"
    assert root["metrics"]["end"] >= root["metrics"]["start"]
    child = by_id[out["child_id"]]
    assert child["span_parents"] == [root["span_id"]] and child["root_span_id"] == root["root_span_id"]
    assert child["span_attributes"]["type"] == "llm" and child["metrics"]["tokens"] == 7
    assert child["metadata"] == {"model": "gpt-4o-mini"}
    traced_root = by_id[out["traced_root_id"]]
    traced_children = [r for r in rows if r.get("span_parents") == [traced_root["span_id"]]]
    assert [c["span_attributes"]["name"] for c in traced_children] == ["double"]
    assert traced_children[0]["output"] == 42
    comments = [r for r in rows if r.get("comment")]
    assert (
        comments
        and comments[0]["comment"]["text"] == "nice"
        and comments[0]["origin"]["id"] == out["root_id"]
    )
    # no control fields leak, every row has a fixed-width transaction id
    for r in rows:
        assert not any(k in r for k in ("_is_merge", "_merge_paths", "_object_delete"))
        assert len(r["_xact_id"]) == 19


def test_eval_twice_compares_with_base(server: RunningLoopline, sdk: str) -> None:
    out = run_flow(server, sdk, "eval", unique_project("eval"))
    first, second = out["first"], out["second"]
    assert first["comparison_status"] in ("SummarySuccess", "legacy"), out["_stderr"][-2000:]
    assert first["scores"]["ExactMatch"]["score"] == pytest.approx(3 / 6)
    assert first["scores"]["Levenshtein"]["score"] == pytest.approx((3 + 3 * (5 / 6)) / 6)
    assert second["experiment_name"] != first["experiment_name"]  # ensure_new renamed it
    assert second["comparison_experiment_name"] == first["experiment_name"]
    em = second["scores"]["ExactMatch"]
    assert em["score"] == pytest.approx(4 / 6)
    assert em["diff"] == pytest.approx(1 / 6)
    # word3, word4 now exact (improved); word2 no longer exact (regressed)
    assert (em["improvements"], em["regressions"]) == (2, 1)
    assert second["metrics"]["duration"]["unit"] == "s"


def test_dataset_insert_update_delete_version_summarize(server: RunningLoopline, sdk: str) -> None:
    out = run_flow(server, sdk, "dataset", unique_project("ds"))
    after = {r["id"]: r for r in out["after"]}
    ids = out["ids"]
    assert set(after) == {ids[0], ids[2], "custom-row-id"}  # ids[1] deleted
    assert after[ids[0]]["metadata"] == {"i": 0, "reviewed": True}  # update merged
    assert after[ids[0]]["tags"] == ["math"]
    assert after["custom-row-id"]["expected"] == "6"
    assert out["total_records"] == 3
    assert out["pinned_ids"] == sorted([*ids, "custom-row-id"])  # as of the version before delete
    assert len(out["version_before"]) == 19
    ev = out["eval"]
    assert ev["scores"]["ExactMatch"]["score"] == pytest.approx(1.0)


def test_attachment_round_trip(server: RunningLoopline, sdk: str, api: Api) -> None:
    project = unique_project("att")
    out = run_flow(server, sdk, "attachment", project)
    rows = api.fetch("project_logs", api.project_id(project))
    ref = next(r for r in rows if r["id"] == out["row_id"])["input"]["file"]
    assert ref["type"] == "braintrust_attachment" and ref["filename"] == "hello.txt"
    r = api.client.get(
        "/attachment", params={"key": ref["key"], "filename": "hello.txt", "content_type": "text/plain"}
    )
    assert r.status_code == 200, r.text
    import httpx

    data = httpx.get(r.json()["downloadUrl"]).content  # signed URL: no API key
    assert data == "hello attachment ✓".encode()


def test_overflow_batches(server: RunningLoopline, api: Api) -> None:
    import sys

    project = unique_project("ovf")
    out = run_flow(server, sys.executable, "overflow", project)
    rows = {r["id"]: r for r in api.fetch("project_logs", api.project_id(project))}
    assert set(out["ids"]) <= set(rows)
    assert all(len(rows[i]["input"]["big"]) == 150_000 for i in out["ids"])
    assert "overflow" in server.log_text()
