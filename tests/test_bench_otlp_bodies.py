"""The ingest bench's OTLP load sends new spans every request, as its /logs3 load does: a prebuilt
body with fresh trace and span ids (re-sent ids would be rewrites of stored rows, the writer's
merge path, not the inserts the bench compares with Arize Phoenix)."""

from __future__ import annotations

from loopline.ingest import otlp

from tests.bench.bench_ingest import ROWS_PER_REQUEST, OtlpBodies

PB = "application/x-protobuf"


def _ids(body: bytes) -> list[tuple[str, str]]:
    return [(s.trace_id, s.span_id) for s in otlp.decode_request(body, PB)]


def test_each_otlp_body_has_fresh_ids_and_the_same_spans() -> None:
    bodies = OtlpBodies(count=2)
    first, again, other = bodies.body(0), bodies.body(2 * ROWS_PER_REQUEST), bodies.body(ROWS_PER_REQUEST)
    assert len(first) == len(again) == len(bodies.bodies[0])
    seen: set[str] = set()
    for body in (first, again, other):
        ids = _ids(body)
        assert len(ids) == ROWS_PER_REQUEST
        spans = {s for _, s in ids}
        assert len(spans) == ROWS_PER_REQUEST and len({t for t, _ in ids}) == ROWS_PER_REQUEST
        assert not spans & seen  # no span id of an earlier request
        seen |= spans
    batch = otlp.map_spans(otlp.decode_request(again, PB), "project_id:p")
    assert batch.rejected == 0 and len(batch.spans) == ROWS_PER_REQUEST
    # the same spans otherwise: only the ids differ from the prebuilt body's
    a, b = otlp.decode_request(first, PB), otlp.decode_request(again, PB)
    assert [(x.name, x.attributes, x.start_time_unix_nano) for x in a] == [
        (x.name, x.attributes, x.start_time_unix_nano) for x in b
    ]
