"""Mustache rendering as the SDK's prompt.build does it, and invoke parents as the real SDK
encodes them (V4 and V3 span-component strings, the object form)."""

from __future__ import annotations

import uuid

import pytest
from braintrust.span_identifier_v3 import SpanComponentsV3, SpanObjectTypeV3
from braintrust.span_identifier_v4 import SpanComponentsV4
from braintrust.span_identifier_v4 import parse_parent as sdk_parse_parent
from loopline.common.errors import Invalid
from loopline.evaluator.runtime.mustache import TemplateError, render, render_object
from loopline.evaluator.runtime.parents import SpanParent, decode_parent


def test_variables_sections_and_json_values() -> None:
    v = {"input": {"q": "2+2?", "tags": ["a", "b"]}, "metadata": {"user": "ann"}, "n": None, "flag": True}
    assert render("Q: {{input.q}} by {{metadata.user}}", v) == "Q: 2+2? by ann"
    assert render("{{input}}", v) == '{"q": "2+2?", "tags": ["a", "b"]}'
    assert render("<{{{input.q}}}> <{{& input.q}}>", {"input": {"q": "<b>&"}}) == "<<b>&> <<b>&>"
    assert render("{{n}}|{{missing}}|{{input.tags.1}}", v) == "null||b"
    assert render("{{#input.tags}}[{{.}}]{{/input.tags}}", v) == "[a][b]"
    assert render("{{^missing}}none{{/missing}}{{#flag}}yes{{/flag}}", v) == "noneyes"
    assert render("{{! a comment }}x", v) == "x"
    assert render("a\n{{#flag}}\nb\n{{/flag}}\nc", v) == "a\nb\nc"  # standalone tag lines vanish
    assert render_object([{"content": "{{input.q}}"}], v) == [{"content": "2+2?"}]


def test_strict_names_the_missing_variable_and_bad_templates_are_errors() -> None:
    with pytest.raises(TemplateError, match=r"'input\.nope'"):
        render("{{input.nope}}", {"input": {}}, strict=True)
    assert render("{{input.nope}}", {"input": {}}) == ""
    with pytest.raises(TemplateError, match="never closed"):
        render("{{#a}}x", {})
    with pytest.raises(TemplateError, match="closes"):
        render("{{#a}}x{{/b}}", {})


def test_sdk_v4_exports_decode() -> None:
    span_id, root = uuid.uuid4().hex[:16], uuid.uuid4().hex
    s = SpanComponentsV4(
        object_type=SpanObjectTypeV3.EXPERIMENT,
        object_id="exp-1",
        row_id="row-1",
        span_id=span_id,
        root_span_id=root,
        propagated_event={"span_attributes": {"purpose": "scorer"}},
    ).to_str()
    assert decode_parent(s) == SpanParent(
        "experiment",
        "exp-1",
        row_id="row-1",
        span_id=span_id,
        root_span_id=root,
        propagated_event={"span_attributes": {"purpose": "scorer"}},
    )
    # the logger's export: no object id, the project by name
    logs = SpanComponentsV4(
        object_type=SpanObjectTypeV3.PROJECT_LOGS,
        compute_object_metadata_args={"project_name": "my-proj", "project_id": None},
    ).to_str()
    assert decode_parent(logs) == SpanParent("project_logs", project_name="my-proj")
    # non-hex span ids travel in the JSON part
    odd = SpanComponentsV4(
        object_type=SpanObjectTypeV3.PROJECT_LOGS,
        object_id="p1",
        row_id="r",
        span_id="s-1",
        root_span_id="t-1",
    ).to_str()
    assert decode_parent(odd) == SpanParent(
        "project_logs", "p1", row_id="r", span_id="s-1", root_span_id="t-1"
    )


def test_sdk_v3_exports_and_object_form_decode() -> None:
    ids = [str(uuid.uuid4()) for _ in range(4)]
    s = SpanComponentsV3(
        object_type=SpanObjectTypeV3.EXPERIMENT,
        object_id=ids[0],
        row_id=ids[1],
        span_id=ids[2],
        root_span_id=ids[3],
    ).to_str()
    assert decode_parent(s) == SpanParent(
        "experiment", ids[0], row_id=ids[1], span_id=ids[2], root_span_id=ids[3]
    )
    obj = {
        "object_type": "project_logs",
        "object_id": "p1",
        "row_ids": {"id": "r1", "span_id": "s1", "root_span_id": "t1"},
        "propagated_event": {"metadata": {"k": 1}},
    }
    want = SpanParent(
        "project_logs",
        "p1",
        row_id="r1",
        span_id="s1",
        root_span_id="t1",
        propagated_event={"metadata": {"k": 1}},
    )
    assert decode_parent(obj) == want
    # the SDK's own conversion of the object form decodes to the same thing
    assert decode_parent(sdk_parse_parent(obj)) == want
    assert decode_parent({"object_type": "experiment", "object_id": "e1"}) == SpanParent("experiment", "e1")
    assert decode_parent("") is None and decode_parent(None) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64!", "not base64"),
        ("AQID", "version 1"),
        ({"object_type": "dataset", "object_id": "d"}, "object_type"),
        ({"object_type": "experiment"}, "object_id"),
        (
            {"object_type": "experiment", "object_id": "e", "row_ids": {"id": "r", "span_id": "s"}},
            "go together",
        ),
        (42, "export string or an object"),
    ],
)
def test_bad_parents_are_400s_naming_the_problem(value: object, message: str) -> None:
    with pytest.raises(Invalid, match=message) as e:
        decode_parent(value)
    assert e.value.where == {"field": "parent"}
