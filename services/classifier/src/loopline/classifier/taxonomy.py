"""Taxonomies: a project's classifiers, each one facet with its labels (owner of `classifiers`).

A classifier is ``{facet, labels[{name, description, examples[]}], text_path?, threshold}``. Every
change of its labels, examples, text path or threshold writes a new version (1, 2, …); old versions
stay readable. Every read and write is scoped by org and project: another tenant's id is "not
found". Validation answers with the field that is wrong (`Invalid` → 400).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from loopline.classifier.head import OTHER, LabelSpec
from loopline.common.errors import Conflict, Invalid, NotFound
from loopline.common.store import Store

DEFAULT_FACET = "Intent"
DEFAULT_THRESHOLD = 0.4
MAX_LABELS = 500
MAX_EXAMPLES_PER_LABEL = 1000
MAX_EXAMPLE_CHARS = 2000
MAX_DESCRIPTION_CHARS = 2000
MAX_NAME_CHARS = 128
MAX_PATH_CHARS = 256
FACET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")  # a key of `classifications`, a BTQL path part
PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
COLUMNS = [
    "org_id",
    "project_id",
    "id",
    "version",
    "facet",
    "labels",
    "text_path",
    "threshold",
    "created",
    "created_by",
    "deleted",
    "llm_fallback",
    "llm_model",
]
MAX_MODEL_CHARS = 128


@dataclass(frozen=True)
class Label:
    name: str
    description: str = ""
    examples: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "examples": list(self.examples)}


@dataclass(frozen=True)
class Taxonomy:
    """The content of one classifier version (what a version number stands for)."""

    facet: str = DEFAULT_FACET
    labels: tuple[Label, ...] = ()
    text_path: str | None = None
    threshold: float = DEFAULT_THRESHOLD
    # spans under the threshold go to an LLM of the org's providers (llm.py); model None: the
    # classifier settings' llm_model
    llm_fallback: bool = False
    llm_model: str | None = None

    def label_specs(self) -> list[LabelSpec]:
        return [LabelSpec(lab.name, lab.description, lab.examples) for lab in self.labels]


@dataclass(frozen=True)
class Classifier:
    org_id: str
    project_id: str
    id: str
    version: int
    taxonomy: Taxonomy
    created: datetime
    created_by: str = ""
    deleted: bool = field(default=False, compare=False)
    # when version 1 was written (live labelling starts there; `list` fills it in)
    first_created: datetime | None = field(default=None, compare=False)

    def public(self) -> dict[str, Any]:
        t = self.taxonomy
        return {
            "id": self.id,
            "project_id": self.project_id,
            "version": self.version,
            "facet": t.facet,
            "labels": [lab.public() for lab in t.labels],
            "text_path": t.text_path,
            "threshold": t.threshold,
            "llm_fallback": t.llm_fallback,
            "llm_model": t.llm_model,
            "created": self.created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "created_by": self.created_by or None,
        }


def parse_taxonomy(body: Mapping[str, Any], base: Taxonomy | None = None) -> Taxonomy:
    """A create body, or an update body over ``base`` (absent fields keep their value). Raises Invalid."""
    base = base or Taxonomy()
    facet = body.get("facet", base.facet)
    if not isinstance(facet, str) or not FACET_NAME.match(facet):
        raise Invalid(
            "facet must be a name of letters, digits and _ (at most 64, a letter first)", field="facet"
        )
    labels = _parse_labels(body["labels"]) if "labels" in body else base.labels
    text_path = body.get("text_path", base.text_path)
    if text_path is not None and (
        not isinstance(text_path, str) or len(text_path) > MAX_PATH_CHARS or not PATH.match(text_path)
    ):
        raise Invalid(
            "text_path must be a dotted path such as input.question or metadata.query", field="text_path"
        )
    threshold = body.get("threshold", base.threshold)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise Invalid("threshold must be a number from 0 to 1", field="threshold")
    llm_fallback = body.get("llm_fallback", base.llm_fallback)
    if not isinstance(llm_fallback, bool):
        raise Invalid("llm_fallback must be true or false", field="llm_fallback")
    llm_model = body.get("llm_model", base.llm_model)
    if llm_model is not None and (
        not isinstance(llm_model, str) or not llm_model.strip() or len(llm_model) > MAX_MODEL_CHARS
    ):
        raise Invalid(
            f"llm_model must be a model name of at most {MAX_MODEL_CHARS} characters, or null",
            field="llm_model",
        )
    return Taxonomy(
        facet,
        labels,
        text_path,
        float(threshold),
        llm_fallback,
        llm_model.strip() if llm_model is not None else None,
    )


def _parse_labels(raw: Any) -> tuple[Label, ...]:
    if not isinstance(raw, list):
        raise Invalid("labels must be an array of {name, description, examples}", field="labels")
    if len(raw) > MAX_LABELS:
        raise Invalid(f"at most {MAX_LABELS} labels", field="labels")
    seen: set[str] = set()
    out = []
    for i, item in enumerate(raw):
        where = f"labels[{i}]"
        if not isinstance(item, Mapping):
            raise Invalid("a label must be an object {name, description, examples}", field=where)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Invalid("a label needs a non-empty name", field=f"{where}.name")
        name = name.strip()
        if len(name) > MAX_NAME_CHARS:
            raise Invalid(f"a label name has at most {MAX_NAME_CHARS} characters", field=f"{where}.name")
        if name.casefold() == OTHER:
            raise Invalid(
                f"{OTHER!r} is given to low-confidence spans; pick another name", field=f"{where}.name"
            )
        if name.casefold() in seen:
            raise Invalid(f"duplicate label {name!r}", field=f"{where}.name")
        seen.add(name.casefold())
        description = item.get("description") or ""
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
            raise Invalid(
                f"description must be a string of at most {MAX_DESCRIPTION_CHARS} characters",
                field=f"{where}.description",
            )
        out.append(Label(name, description.strip(), _parse_examples(item.get("examples") or [], where)))
    return tuple(out)


def _parse_examples(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_EXAMPLES_PER_LABEL:
        raise Invalid(
            f"examples must be an array of at most {MAX_EXAMPLES_PER_LABEL} strings",
            field=f"{where}.examples",
        )
    out: list[str] = []
    for j, ex in enumerate(raw):
        if not isinstance(ex, str) or not ex.strip():
            raise Invalid("an example must be a non-empty string", field=f"{where}.examples[{j}]")
        if len(ex) > MAX_EXAMPLE_CHARS:
            raise Invalid(
                f"an example has at most {MAX_EXAMPLE_CHARS} characters (this one has {len(ex)})",
                field=f"{where}.examples[{j}]",
            )
        out.append(ex.strip())
    return tuple(dict.fromkeys(out))


def _encode_labels(labels: Sequence[Label]) -> str:
    return orjson.dumps([lab.public() for lab in labels]).decode()


def _decode_labels(text: str) -> tuple[Label, ...]:
    return tuple(
        Label(d["name"], d.get("description", ""), tuple(d.get("examples", []))) for d in orjson.loads(text)
    )


class TaxonomyStore:
    def __init__(
        self, store: Store, max_age_s: float = 1.0, default_threshold: float = DEFAULT_THRESHOLD
    ) -> None:
        self.store = store
        self.default_threshold = default_threshold  # of a create body that names none
        # the consumer asks once per project per committed batch: answers are kept `max_age_s`
        # (this process's own writes drop them at once; another process's show within max_age_s)
        self.max_age_s = max_age_s
        self._recent: dict[tuple[str, str], tuple[float, list[Classifier]]] = {}

    async def current(self, org_id: str, project_id: str) -> list[Classifier]:
        """`list`, answered from a cache at most `max_age_s` old (for the consumer's hot path)."""
        key = (org_id, project_id)
        hit = self._recent.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.max_age_s:
            return hit[1]
        found = await self.list(org_id, project_id)
        if len(self._recent) > 10_000:
            self._recent.clear()
        self._recent[key] = (now, found)
        return found

    async def _rows(self, org_id: str, project_id: str, where: str = "", **params: Any) -> list[Classifier]:
        rows = await self.store.query_dicts(
            self.store.sql(
                "SELECT org_id, project_id, id, version, facet, labels, text_path, threshold, created, "
                "created_by, deleted, llm_fallback, llm_model FROM {db}.classifiers FINAL "
                f"WHERE org_id = {{o:String}} AND project_id = {{p:String}} {where} ORDER BY id, version"
            ),
            {"o": org_id, "p": project_id, **params},
        )
        return [
            Classifier(
                org_id=r["org_id"],
                project_id=r["project_id"],
                id=r["id"],
                version=int(r["version"]),
                taxonomy=Taxonomy(
                    r["facet"],
                    _decode_labels(r["labels"]),
                    r["text_path"] or None,
                    float(r["threshold"]),
                    bool(r["llm_fallback"]),
                    r["llm_model"] or None,
                ),
                created=r["created"],
                created_by=r["created_by"],
                deleted=bool(r["deleted"]),
            )
            for r in rows
        ]

    async def _write(self, c: Classifier) -> None:
        t = c.taxonomy
        row = [
            c.org_id,
            c.project_id,
            c.id,
            c.version,
            t.facet,
            _encode_labels(t.labels),
            t.text_path or "",
            t.threshold,
            c.created,
            c.created_by,
            int(c.deleted),
            int(t.llm_fallback),
            t.llm_model or "",
        ]
        await self.store.insert("classifiers", [row], COLUMNS)
        self._recent.pop((c.org_id, c.project_id), None)

    async def list(self, org_id: str, project_id: str) -> list[Classifier]:
        """The current version of each classifier of the project."""
        latest: dict[str, Classifier] = {}
        first: dict[str, datetime] = {}
        for c in await self._rows(org_id, project_id):
            latest[c.id] = c
            first.setdefault(c.id, c.created)
        return [replace(c, first_created=first[c.id]) for c in latest.values() if not c.deleted]

    async def get(
        self, org_id: str, project_id: str, classifier_id: str, version: int | None = None
    ) -> Classifier:
        versions = await self._rows(org_id, project_id, "AND id = {i:String}", i=classifier_id)
        if not versions or versions[-1].deleted:
            raise NotFound(f"no classifier {classifier_id!r} in this project", field="classifier_id")
        if version is None:
            return versions[-1]
        for c in versions:
            if c.version == version and not c.deleted:
                return c
        raise NotFound(f"classifier {classifier_id!r} has no version {version}", field="version")

    async def create(
        self, org_id: str, project_id: str, body: Mapping[str, Any], user_id: str = ""
    ) -> Classifier:
        taxonomy = parse_taxonomy(body, Taxonomy(threshold=self.default_threshold))
        await self._check_facet_free(org_id, project_id, taxonomy.facet)
        c = Classifier(org_id, project_id, str(uuid.uuid4()), 1, taxonomy, _now(), user_id)
        await self._write(c)
        return c

    async def update(
        self, org_id: str, project_id: str, classifier_id: str, body: Mapping[str, Any], user_id: str = ""
    ) -> Classifier:
        """A new version when anything changed; the current one otherwise."""
        current = await self.get(org_id, project_id, classifier_id)
        taxonomy = parse_taxonomy(body, current.taxonomy)
        if taxonomy == current.taxonomy:
            return current
        if taxonomy.facet != current.taxonomy.facet:
            await self._check_facet_free(org_id, project_id, taxonomy.facet)
        c = replace(
            current, version=current.version + 1, taxonomy=taxonomy, created=_now(), created_by=user_id
        )
        await self._write(c)
        return c

    async def delete(self, org_id: str, project_id: str, classifier_id: str, user_id: str = "") -> Classifier:
        current = await self.get(org_id, project_id, classifier_id)
        await self._write(
            replace(current, version=current.version + 1, created=_now(), created_by=user_id, deleted=True)
        )
        return current

    async def _check_facet_free(self, org_id: str, project_id: str, facet: str) -> None:
        for c in await self.list(org_id, project_id):
            if c.taxonomy.facet == facet:
                raise Conflict(f"facet {facet!r} already has classifier {c.id}", field="facet")


def _now() -> datetime:
    return datetime.fromtimestamp(time.time(), UTC)
