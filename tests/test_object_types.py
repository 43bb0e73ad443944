"""The object-type vocabulary is defined once; libs/btql (pure, no dependency on common) keeps
its own copy of the readable types, which must agree."""

from __future__ import annotations

from loopline.btql import schema as btql_schema
from loopline.btql.options import _UNSUPPORTED
from loopline.common import object_types as ot
from loopline.common import rows


def test_btql_reads_exactly_the_readable_object_types() -> None:
    assert (btql_schema.PROJECT_LOGS, btql_schema.EXPERIMENT, btql_schema.DATASET) == ot.READABLE
    assert set(btql_schema.OBJECT_TYPES) == set(ot.READABLE)
    # every other object type is one BTQL refuses by name (not "unknown object type")
    assert ot.ON_THE_BUS - set(ot.READABLE) <= _UNSUPPORTED


def test_the_vocabularies_nest() -> None:
    assert set(ot.READABLE) <= ot.WRITABLE <= ot.ON_THE_BUS
    assert ot.SPAN_TYPES | {ot.DATASET} == ot.ON_THE_BUS
    assert rows.OBJECT_TYPES == ot.WRITABLE and rows.LOG_IDS == ot.LOG_IDS
    assert set(ot.ID_FIELD) == ot.WRITABLE
    assert {ot.stored_object_id(t, "x") for t in ot.READABLE} == {"g", "x"}
    assert ot.stored_object_id(ot.PROJECT_PROMPTS, "x") == "p"
