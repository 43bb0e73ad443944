"""Every topic's example payloads decode, and re-encode to the same message (contract round trip).

Examples live in `examples/<topic>/*.json` as `{"key": ..., "headers": {...}, "value": <JSON>}`
(or `"value_text"` for a value that is not JSON, as a dead letter's may be).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from loopline.common.bus import Message
from loopline.common.messages import CONTRACTS, MessageDecodeError, TopicContract, committed, eval_jobs, rows
from loopline.common.rows import validate_rows
from loopline.common.topics import all_topics

EXAMPLES = Path(__file__).parent / "examples"
BY_NAME = {c.name: c for c in CONTRACTS}


def _examples() -> list[tuple[str, Path]]:
    return sorted((p.parent.name, p) for p in EXAMPLES.glob("*/*.json"))


def _message(topic: str, doc: dict[str, Any]) -> Message:
    value = doc["value_text"].encode() if "value_text" in doc else orjson.dumps(doc["value"])
    headers = tuple((k, v.encode()) for k, v in doc.get("headers", {}).items())
    return Message(topic, 0, 0, doc["key"].encode(), value, headers)


def _without_nulls(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _without_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_without_nulls(x) for x in v]
    return v


def test_every_topic_has_examples_and_every_example_a_topic() -> None:
    topics = {t for t, _ in _examples()}
    assert topics == set(BY_NAME)


@pytest.mark.parametrize(("topic", "path"), _examples(), ids=lambda x: x.name if isinstance(x, Path) else x)
def test_example_decodes_and_round_trips(topic: str, path: Path) -> None:
    contract: TopicContract[Any] = BY_NAME[topic]
    doc = orjson.loads(path.read_bytes())
    msg = _message(topic, doc)
    decoded = contract.read(msg)
    out = contract.out(decoded)
    assert out.key == msg.key
    assert out.headers == msg.headers
    again = contract.read(Message(topic, 0, 0, out.key, out.value, out.headers))
    assert again == decoded
    if "value" in doc:
        encoded = orjson.loads(out.value)
        # every field of the example comes back with its value (defaults may be added; a codec
        # may leave out nulls, which read as absent)
        example = _without_nulls(doc["value"])
        assert {k: _without_nulls(encoded[k]) for k in example} == example
    else:
        assert out.value == msg.value


def test_contracts_name_producers_consumers_and_a_version() -> None:
    for c in CONTRACTS:
        assert c.producers and c.consumers and c.schema_version >= 1
    assert [t.name for t in all_topics(8)] == [c.name for c in CONTRACTS]
    assert {t.name: t.partitions for t in all_topics(8)} == {
        "loopline.rows": 8,
        "loopline.rows.committed": 8,
        "loopline.eval.jobs": 4,
        "loopline.rows.dlq": 1,
    }


def test_the_row_key_is_one_function() -> None:
    (v,) = validate_rows([{"id": "r1", "dataset_id": "ds1", "input": 1}])
    w = rows.RowWrite("org1", "p1", v.object_type, v.object_id, 1, v.row)
    assert v.key.bus_key("org1") == rows.key(w) == rows.row_key("org1", "dataset", "ds1", "r1").encode()


@pytest.mark.parametrize(
    ("contract", "value", "needle"),
    [
        (rows.CONTRACT, b"not json", "not a row envelope"),
        (rows.CONTRACT, b'{"o":"a","p":"b","t":"project_logs","i":"g","x":1,"r":{}}', "without a row id"),
        (rows.CONTRACT, b'{"o":"a","p":"b","t":"nope","i":"g","x":1,"r":{"id":"x"}}', "unknown object type"),
        (committed.CONTRACT, b'{"org_id":"a"}', "not a rows-committed message"),
        (
            committed.CONTRACT,
            b'{"org_id":"a","project_id":"p","object_type":"t","object_id":"o",'
            b'"root_span_id":"r","xact_id":1,"ids":[1]}',
            "ids must be a list of strings",
        ),
        (eval_jobs.CONTRACT, b"{}", "not an eval job"),
        (
            eval_jobs.CONTRACT,
            b'{"job_id":"j","experiment_id":"e","org_id":"o","project_id":"p","requested_by":"u",'
            b'"data":{"dataset_id":"d"},"task":{"function_id":"f","slug":"s","project_name":"x"},'
            b'"scorers":[{"global_function":"Levenshtein"}]}',
            "exactly one selector",
        ),
        (
            eval_jobs.CONTRACT,
            b'{"job_id":"j","experiment_id":"e","org_id":"o","project_id":"p","requested_by":"u",'
            b'"data":{"dataset_id":"d","rows":[]},"task":{"function_id":"f"},'
            b'"scorers":[{"global_function":"Levenshtein"}]}',
            "exactly one of dataset_id or rows",
        ),
    ],
)
def test_what_is_not_a_message_is_a_decode_error(
    contract: TopicContract[Any], value: bytes, needle: str
) -> None:
    with pytest.raises(MessageDecodeError, match=needle):
        contract.decode(value)


def test_committed_from_written_rows_groups_by_trace_and_skips_deletes() -> None:
    base = {"org_id": "o", "project_id": "p", "object_type": "project_logs", "object_id": "g"}
    written = [
        {**base, "id": "a", "root_span_id": "t1", "_xact_id": 5},
        {**base, "id": "b", "root_span_id": "t1", "_xact_id": 6},
        {**base, "id": "c", "root_span_id": "", "_xact_id": 7},
        {**base, "id": "d", "root_span_id": "t2", "_xact_id": 8, "_is_deleted": 1},
    ]
    got = committed.from_written(written)
    assert [(m.root_span_id, m.ids, m.xact_id) for m in got] == [("t1", ["a", "b"], 5), ("c", ["c"], 7)]
    assert committed.key(got[0]) == b"o/project_logs/g/t1"
