"""Taxonomies: validation with the field at fault, versions on change, tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from loopline.classifier.taxonomy import (
    DEFAULT_FACET,
    MAX_EXAMPLE_CHARS,
    MAX_LABELS,
    Label,
    TaxonomyStore,
    parse_taxonomy,
)
from loopline.common.errors import Conflict, Invalid, NotFound
from loopline.common.store import Store

GOOD: dict[str, Any] = {
    "labels": [
        {
            "name": "refund",
            "description": "money back",
            "examples": ["refund me", " refund me ", "give it back"],
        },
        {"name": "card_lost"},
    ]
}


def test_parse_defaults_and_cleaning() -> None:
    t = parse_taxonomy(GOOD)
    assert t.facet == DEFAULT_FACET
    assert t.threshold == 0.4
    assert t.text_path is None
    assert t.labels == (Label("refund", "money back", ("refund me", "give it back")), Label("card_lost"))
    assert [s.name for s in t.label_specs()] == ["refund", "card_lost"]


def test_update_body_keeps_absent_fields() -> None:
    base = parse_taxonomy({**GOOD, "facet": "Issue", "threshold": 0.2})
    t = parse_taxonomy({"text_path": "metadata.query"}, base)
    assert (t.facet, t.threshold, t.labels, t.text_path) == ("Issue", 0.2, base.labels, "metadata.query")


BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("facet with a dot", {"facet": "a.b"}, "facet", "facet must"),
    ("facet empty", {"facet": ""}, "facet", "facet must"),
    ("facet not a string", {"facet": 3}, "facet", "facet must"),
    ("labels not a list", {"labels": {"a": 1}}, "labels", "array"),
    ("too many labels", {"labels": [{"name": f"l{i}"} for i in range(MAX_LABELS + 1)]}, "labels", "at most"),
    ("label not an object", {"labels": ["refund"]}, "labels[0]", "object"),
    ("empty name", {"labels": [{"name": "  "}]}, "labels[0].name", "non-empty"),
    ("missing name", {"labels": [{"description": "x"}]}, "labels[0].name", "non-empty"),
    ("long name", {"labels": [{"name": "x" * 129}]}, "labels[0].name", "at most"),
    ("duplicate name", {"labels": [{"name": "a"}, {"name": "A"}]}, "labels[1].name", "duplicate"),
    ("reserved other", {"labels": [{"name": "Other"}]}, "labels[0].name", "low-confidence"),
    ("bad description", {"labels": [{"name": "a", "description": 5}]}, "labels[0].description", "string"),
    ("examples not a list", {"labels": [{"name": "a", "examples": "x"}]}, "labels[0].examples", "array"),
    (
        "empty example",
        {"labels": [{"name": "a", "examples": ["ok", ""]}]},
        "labels[0].examples[1]",
        "non-empty",
    ),
    (
        "example too long",
        {"labels": [{"name": "a", "examples": ["x" * (MAX_EXAMPLE_CHARS + 1)]}]},
        "labels[0].examples[0]",
        "at most",
    ),
    ("threshold above 1", {"threshold": 1.5}, "threshold", "0 to 1"),
    ("threshold bool", {"threshold": True}, "threshold", "0 to 1"),
    ("bad text path", {"text_path": "input..x"}, "text_path", "dotted path"),
    ("text path not a string", {"text_path": 7}, "text_path", "dotted path"),
]


@pytest.mark.parametrize(("body", "where", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_invalid_bodies_name_the_field(body: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(Invalid, match=message) as info:
        parse_taxonomy(body)
    assert info.value.where == {"field": where}


async def test_versions_on_change_and_previous_readable(store: Store) -> None:
    s = TaxonomyStore(store)
    org, project = str(uuid.uuid4()), str(uuid.uuid4())
    c1 = await s.create(org, project, GOOD, "u1")
    assert c1.version == 1
    assert c1.public()["labels"][0] == {
        "name": "refund",
        "description": "money back",
        "examples": ["refund me", "give it back"],
    }
    same = await s.update(org, project, c1.id, {"threshold": 0.4})
    assert same.version == 1  # nothing changed: no new version
    c2 = await s.update(org, project, c1.id, {"labels": [*GOOD["labels"], {"name": "weather"}]}, "u2")
    assert (c2.version, c2.created_by, len(c2.taxonomy.labels)) == (2, "u2", 3)
    assert (await s.get(org, project, c1.id)).version == 2
    old = await s.get(org, project, c1.id, version=1)
    assert old.taxonomy == c1.taxonomy
    with pytest.raises(NotFound):
        await s.get(org, project, c1.id, version=7)
    assert [c.version for c in await s.list(org, project)] == [2]


async def test_one_classifier_per_facet(store: Store) -> None:
    s = TaxonomyStore(store)
    org, project = str(uuid.uuid4()), str(uuid.uuid4())
    first = await s.create(org, project, GOOD)
    with pytest.raises(Conflict, match="Intent"):
        await s.create(org, project, GOOD)
    other = await s.create(org, project, {**GOOD, "facet": "Sentiment"})
    with pytest.raises(Conflict):
        await s.update(org, project, other.id, {"facet": "Intent"})
    await s.create(org, str(uuid.uuid4()), GOOD)  # another project may use the facet
    await s.delete(org, project, first.id)
    await s.create(org, project, GOOD)  # free again once deleted


async def test_delete_and_tenant_isolation(store: Store) -> None:
    s = TaxonomyStore(store)
    org, project = str(uuid.uuid4()), str(uuid.uuid4())
    c = await s.create(org, project, GOOD)
    for other_org, other_project in ((str(uuid.uuid4()), project), (org, str(uuid.uuid4()))):
        with pytest.raises(NotFound):
            await s.get(other_org, other_project, c.id)
        with pytest.raises(NotFound):
            await s.update(other_org, other_project, c.id, {"threshold": 0.9})
        with pytest.raises(NotFound):
            await s.delete(other_org, other_project, c.id)
        assert await s.list(other_org, other_project) == []
    await s.delete(org, project, c.id)
    with pytest.raises(NotFound):
        await s.get(org, project, c.id)
    with pytest.raises(NotFound):
        await s.get(org, project, c.id, version=1)
    assert await s.list(org, project) == []


async def test_current_is_cached_briefly_and_dropped_by_own_writes(store: Store) -> None:
    s = TaxonomyStore(store, max_age_s=3600)
    org, project = str(uuid.uuid4()), str(uuid.uuid4())
    assert await s.current(org, project) == []
    c = await s.create(org, project, GOOD)  # this process's write: seen at once
    assert [x.id for x in await s.current(org, project)] == [c.id]
    other_process = TaxonomyStore(store)
    await other_process.update(org, project, c.id, {"threshold": 0.9})
    assert (await s.current(org, project))[0].version == 1  # another process's write: after max_age_s
    assert (await TaxonomyStore(store, max_age_s=0).current(org, project))[0].version == 2
