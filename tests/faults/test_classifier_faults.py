"""Classifier faults, on the in-process bus and on a real Kafka broker: the classifier stopped while
logs keep arriving (its lag grows, nothing is lost, it catches up when started again), and spans
whose text is huge, empty, binary-ish or in another script (a label or `other`, never a crash)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from loopline.classifier.state import State
from loopline.common.progress import wait_for_writer

from tests.support.app import InProcess, in_process
from tests.support.classifier_logs import facet_items, log_rows, root_span, until_labelled

SERVICES = ("gateway", "ingest", "writer", "query", "classifier")
TAXONOMY: dict[str, Any] = {
    "labels": [
        {"name": "refund", "description": "wants money back", "examples": ["I want a refund", "money back"]},
        {"name": "card_lost", "description": "lost or stolen card", "examples": ["I lost my card"]},
        {"name": "weather", "description": "weather forecast questions", "examples": ["will it rain"]},
    ],
    "threshold": 0.3,
}


@pytest.fixture(params=["memory", "kafka"])
async def ll(request: pytest.FixtureRequest, chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    extra: dict[str, Any] = {}
    if request.param == "kafka":
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        extra = {"bus_url": f"kafka://{bootstrap}", "topic_prefix": f"clf{uuid.uuid4().hex[:6]}."}
    async with in_process(chdb_dsn, tmp_path, services=SERVICES, **extra) as p:
        yield p


async def project_with_classifier(ll: InProcess) -> str:
    pid = await ll.make_project()
    r = await ll.client.post(f"/v1/project/{pid}/classifier", json=TAXONOMY, headers=ll.headers)
    assert r.status_code == 200, r.text
    return pid


async def test_stopped_classifier_lags_loses_nothing_and_catches_up(ll: InProcess) -> None:
    state = ll.app.state.services.get(State)
    assert state.consumer is not None
    pid = await project_with_classifier(ll)
    texts = ("refund my order", "my card is lost", "rain tomorrow?")
    await log_rows(ll, [root_span(f"warm{i}", pid, t) for i, t in enumerate(texts)])
    await until_labelled(ll, pid, {"warm0", "warm1", "warm2"})

    await state.consumer.stop()
    assert not state.consumer.running
    await wait_for_writer(state.bus, 60)
    lags = [await state.consumer.lag()]
    stopped_ids: list[str] = []
    for batch in range(4):  # logs keep arriving while the classifier is stopped
        rows = [root_span(f"b{batch}-{i}", pid, texts[i % 3]) for i in range(10)]
        await log_rows(ll, rows)
        stopped_ids += [r["id"] for r in rows]
        await wait_for_writer(state.bus, 60)  # committed, so their notices are on the bus
        lags.append(await state.consumer.lag())
    known = [lag for lag in lags if lag is not None]
    assert len(known) == len(lags) and all(b > a for a, b in itertools.pairwise(known)), lags  # grows
    status = (await ll.client.get("/v1/classifier/status", headers=ll.headers)).json()
    assert status["consumer"]["running"] is False and status["consumer"]["lag"] == lags[-1]
    assert not set(stopped_ids) & (await facet_items(ll, pid)).keys()  # nothing labelled meanwhile

    await state.consumer.start()  # restarted: resumes at the group's offsets
    got = await until_labelled(ll, pid, set(stopped_ids))
    assert {got[f"b0-{i}"]["label"] for i in range(3)} == {"refund", "card_lost", "weather"}
    deadline = asyncio.get_running_loop().time() + 60
    while (lag := await state.consumer.lag()) != 0:  # its own label writes come back once, then done
        assert asyncio.get_running_loop().time() < deadline, lag
        await asyncio.sleep(0.3)


def _awkward_inputs() -> dict[str, Any]:
    random_bytes = os.urandom(3000)
    return {
        "huge": "please refund my order " * 200_000,  # ~4.6 MB of text
        "huge_chat": [{"role": "user", "content": [{"type": "text", "text": "card lost " * 100_000}]}],
        "empty": "",
        "blank": "   \n\t  ",
        "empty_chat": [{"role": "user", "content": ""}],
        "nul_and_controls": "refund\x00\x01\x02\x1b[31m please\x7f",
        "binary_latin1": random_bytes.decode("latin-1"),
        "base64_blob": base64.b64encode(random_bytes).decode(),
        "data_url": "data:image/png;base64," + base64.b64encode(random_bytes).decode(),
        "chinese": "我的信用卡丢了\uff0c请帮我冻结",
        "arabic": "أريد استرداد أموالي",
        "russian": "Верните мне деньги за заказ",
        "hindi": "मेरा कार्ड खो गया है",
        "emoji": "💳❌😭🙏" * 50,
        "rtl_mixed": "refund \u202e\u2066 كلمة \u2069 please",
        "deep_object": {"a": {"b": {"c": {"d": {"e": {"f": {"g": "refund"}}}}}}},
        "numbers": 12345,
        "null": None,
        "list_of_numbers": list(range(1000)),
        "weird_messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
            5,
            None,
        ],
    }


async def test_awkward_texts_get_a_label_or_none_and_never_crash(ll: InProcess) -> None:
    pid = await project_with_classifier(ll)
    cases = _awkward_inputs()
    for name, value in cases.items():
        row = root_span(name, pid, value)
        body = orjson.dumps({"rows": [row]})
        r = await ll.client.post("/logs3", content=body, headers=ll.headers)
        assert r.status_code in (200, 400), (name, r.status_code, r.text)
    # a lone surrogate escape (valid JSON text, no valid UTF-8 string)
    raw = b'{"rows": [{"id": "surrogate", "span_id": "surrogate", "root_span_id": "surrogate", '
    raw += b'"project_id": "' + pid.encode() + b'", "log_id": "g", "input": "refund \\ud800 me"}]}'
    r = await ll.client.post("/logs3", content=raw, headers=ll.headers)
    assert r.status_code in (200, 400), r.text
    # the consumer is still alive: a plain span after them all is labelled
    await log_rows(ll, [root_span("after", pid, "I want a refund")])
    got = await until_labelled(ll, pid, {"after"})
    assert got["after"]["label"] == "refund"
    state = ll.app.state.services.get(State)
    await wait_for_writer(state.bus, 60)
    got = await facet_items(ll, pid)
    for name in (
        "huge",
        "huge_chat",
        "nul_and_controls",
        "chinese",
        "arabic",
        "russian",
        "hindi",
    ):
        assert name in got, name  # text was found: a label or `other`
    for name in ("empty", "blank", "empty_chat", "null", "weird_messages", "emoji"):
        assert name not in got, name  # no usable text: no label (counted, not an error)
    labels_seen = {v["label"] for v in got.values()}
    assert labels_seen <= {"refund", "card_lost", "weather", "other"}
    assert got["huge"]["label"] == "refund"
    assert state.consumer is not None and state.consumer.running
