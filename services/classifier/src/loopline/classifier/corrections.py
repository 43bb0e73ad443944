"""Corrections: a person's label for a logged span, kept by the classifier (owner of
`classifier_corrections`) as well as written onto the span.

Why keep them: a correction is a training example (`improve.retrain` reads them with the text
the span had), and it must survive the model. The span's label is a merge row like the model's,
so a model decision taken from a read of the span *before* the correction committed, and
published after it, would replace it. The consumer therefore checks every committed span against
this table (`repairs`): a span whose facet does not carry a human label although a correction
exists gets the correction written again. Redelivery converges: once the span carries it, nothing
is written.

Human labels written another way — `classifications.<Facet>` set through the SDK or /logs3 with
`source.type` "human" — are recorded here too when the consumer sees them committed
(`record_human_labels`), so retrain learns from them and a racing model write cannot replace them.

The last correction per (facet, span) counts. Projects without any correction cost one cached
query per second (`has_any`), not one per batch.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loopline.classifier.labels import Decision, current_items, human_item, merge_row, source_type
from loopline.classifier.taxonomy import Classifier
from loopline.classifier.text import extract_text
from loopline.common.store import Store

COLUMNS = [
    "org_id",
    "project_id",
    "facet",
    "row_id",
    "classifier_id",
    "version",
    "label",
    "text",
    "user_id",
    "created",
]


@dataclass(frozen=True)
class Correction:
    facet: str
    row_id: str
    classifier_id: str
    version: int
    label: str
    text: str
    user_id: str
    created: datetime

    def decision(self) -> Decision:
        return Decision(
            facet=self.facet,
            label=self.label,
            confidence=1.0,
            classifier_id=self.classifier_id,
            taxonomy_version=str(self.version),
            source="human",
            metadata={"user_id": self.user_id} if self.user_id else {},
        )


def needs_repair(row: Mapping[str, Any], correction: Correction) -> bool:
    """The span lost its human label (or never got it): write the correction again."""
    items = current_items(row, correction.facet)
    return not items or source_type(items[0]) != "human"


def _mapping(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _row(org_id: str, project_id: str, c: Correction) -> list[Any]:
    return [
        org_id,
        project_id,
        c.facet,
        c.row_id,
        c.classifier_id,
        c.version,
        c.label,
        c.text,
        c.user_id,
        c.created,
    ]


class CorrectionStore:
    def __init__(self, store: Store, max_age_s: float = 1.0) -> None:
        self.store = store
        self.max_age_s = max_age_s
        self._any: dict[tuple[str, str], tuple[float, bool]] = {}

    async def record(self, org_id: str, project_id: str, c: Correction) -> None:
        await self.store.insert("classifier_corrections", [_row(org_id, project_id, c)], COLUMNS)
        self._any[(org_id, project_id)] = (time.monotonic(), True)

    async def record_human_labels(
        self,
        org_id: str,
        project_id: str,
        rows: Sequence[Mapping[str, Any]],
        classifiers: Sequence[Classifier],
    ) -> int:
        """Keep as corrections the human labels these committed spans carry for the classifiers'
        facets that no correction records yet (a correction made here, or one seen before, with
        the same label is not written again). Returns how many were recorded."""
        found: list[Correction] = []
        created = now()
        for row in rows:
            row_id = row.get("id")
            if not isinstance(row_id, str):
                continue
            for classifier in classifiers:
                facet = classifier.taxonomy.facet
                item = human_item(row, facet)
                if item is None:
                    continue
                source = _mapping(item.get("source"))
                meta = _mapping(item.get("metadata"))
                version = str(source.get("version") or "")
                same = source.get("id") == classifier.id and version.isdigit()
                found.append(
                    Correction(
                        facet=facet,
                        row_id=row_id,
                        classifier_id=classifier.id,
                        version=int(version) if same else classifier.version,
                        label=str(item["label"]),
                        text=extract_text(row, classifier.taxonomy.text_path) or "",
                        user_id=str(meta.get("user_id") or ""),
                        created=created,
                    )
                )
        if not found:
            return 0
        known = {
            (c.facet, c.row_id, c.label)
            for c in await self._select(
                org_id, project_id, "AND row_id IN {ids:Array(String)}", ids=sorted({c.row_id for c in found})
            )
        }
        new = [c for c in found if (c.facet, c.row_id, c.label) not in known]
        if new:
            await self.store.insert(
                "classifier_corrections", [_row(org_id, project_id, c) for c in new], COLUMNS
            )
            self._any[(org_id, project_id)] = (time.monotonic(), True)
        return len(new)

    async def has_any(self, org_id: str, project_id: str) -> bool:
        key = (org_id, project_id)
        hit = self._any.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.max_age_s:
            return hit[1]
        rows = await self.store.query_dicts(
            self.store.sql(
                "SELECT 1 AS one FROM {db}.classifier_corrections "
                "WHERE org_id = {o:String} AND project_id = {p:String} LIMIT 1"
            ),
            {"o": org_id, "p": project_id},
        )
        if len(self._any) > 10_000:
            self._any.clear()
        self._any[key] = (now, bool(rows))
        return bool(rows)

    async def _select(self, org_id: str, project_id: str, where: str, **params: Any) -> list[Correction]:
        rows = await self.store.query_dicts(
            self.store.sql(
                "SELECT facet, row_id, classifier_id, version, label, text, user_id, created "
                "FROM {db}.classifier_corrections FINAL "
                f"WHERE org_id = {{o:String}} AND project_id = {{p:String}} {where}"
            ),
            {"o": org_id, "p": project_id, **params},
        )
        return [
            Correction(
                r["facet"],
                r["row_id"],
                r["classifier_id"],
                int(r["version"]),
                r["label"],
                r["text"],
                r["user_id"],
                r["created"],
            )
            for r in rows
        ]

    async def of_facet(self, org_id: str, project_id: str, facet: str, limit: int) -> list[Correction]:
        """The facet's corrections, newest first."""
        return await self._select(
            org_id,
            project_id,
            "AND facet = {f:String} ORDER BY created DESC LIMIT {n:UInt32}",
            f=facet,
            n=limit,
        )

    async def repairs(
        self, org_id: str, project_id: str, rows: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Merge rows that put back the corrections these committed spans lost."""
        ids = [str(r["id"]) for r in rows if isinstance(r.get("id"), str)]
        if not ids or not await self.has_any(org_id, project_id):
            return []
        found = await self._select(org_id, project_id, "AND row_id IN {ids:Array(String)}", ids=ids)
        by_row: dict[str, list[Correction]] = {}
        for c in found:
            by_row.setdefault(c.row_id, []).append(c)
        out: list[dict[str, Any]] = []
        for row in rows:
            for c in by_row.get(str(row.get("id")), ()):
                if needs_repair(row, c):
                    out.append(merge_row(c.row_id, c.decision()))
        return out


def now() -> datetime:
    return datetime.fromtimestamp(time.time(), UTC)
