"""What a job reads: its data rows (a stored dataset as of a version, or inline rows) and which
of its cells are already written (their root rows are in the experiment).

Read straight from the row tables every reader shares (like the classifier reads spans), scoped
by the job's org and project; the launch checked both belong to the caller's org.
"""

from __future__ import annotations

from typing import Any

from loopline.common import stored_row
from loopline.common.messages.eval_jobs import EvalJob
from loopline.common.store import Store
from loopline.evaluator.evals.cell_rows import DataRow
from loopline.evaluator.evals.parent import EvalParent, rows_target


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _tags(v: Any) -> list[str] | None:
    return [str(t) for t in v] if isinstance(v, list) else None


def inline_rows(rows: list[dict[str, Any]]) -> list[DataRow]:
    """Inline data: each row's key is its position (the job carries the rows, so it is stable)."""
    return [
        DataRow(
            key=f"#{i}",
            input=r.get("input"),
            expected=r.get("expected"),
            metadata=_dict(r.get("metadata")),
            tags=_tags(r.get("tags")),
            id=str(r["id"]) if isinstance(r.get("id"), str) else None,
            origin=r["origin"] if isinstance(r.get("origin"), dict) else None,
        )
        for i, r in enumerate(rows)
    ]


class DataReader:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def dataset_head(self, org_id: str, project_id: str, dataset_id: str) -> tuple[int, int]:
        """(newest transaction id, live rows) of a dataset now: a launch pins the version."""
        _, rows = await self.store.query(
            self.store.sql(
                "SELECT max(x), countIf(live) FROM (SELECT _xact_id AS x, _is_deleted = 0 AS live "
                "FROM {db}.dataset_rows WHERE org_id = {o:String} AND project_id = {p:String} "
                "AND object_id = {i:String} ORDER BY id, _xact_id DESC LIMIT 1 BY id)"
            ),
            {"o": org_id, "p": project_id, "i": dataset_id},
        )
        return (int(rows[0][0] or 0), int(rows[0][1] or 0)) if rows else (0, 0)

    async def dataset_rows(
        self, org_id: str, project_id: str, dataset_id: str, version: int | None
    ) -> list[DataRow]:
        """The dataset's live rows as of `version` (all versions when None), oldest first."""
        params: dict[str, Any] = {"o": org_id, "p": project_id, "i": dataset_id}
        vfilter = ""
        if version is not None:
            vfilter = "AND _xact_id <= {v:UInt64}"
            params["v"] = version
        cols = ", ".join(stored_row.READ_COLUMNS)
        found = await self.store.query_dicts(
            self.store.sql(
                f"SELECT * EXCEPT (_live) FROM (SELECT {cols}, _is_deleted = 0 AS _live "
                "FROM {db}.dataset_rows WHERE org_id = {o:String} AND project_id = {p:String} "
                f"AND object_id = {{i:String}} {vfilter} ORDER BY id, _xact_id DESC LIMIT 1 BY id) "
                "WHERE _live ORDER BY created, id"
            ),
            params,
        )
        out: list[DataRow] = []
        for cols_ in found:
            r = stored_row.to_read_row(cols_)
            origin = {
                "object_type": "dataset",
                "object_id": dataset_id,
                "id": r["id"],
                "_xact_id": r["_xact_id"],
            }
            if isinstance(r.get("created"), str):
                origin["created"] = r["created"]
            out.append(
                DataRow(
                    key=r["id"],
                    input=r.get("input"),
                    expected=r.get("expected"),
                    metadata=_dict(r.get("metadata")),
                    tags=_tags(r.get("tags")),
                    id=r["id"],
                    origin=origin,
                )
            )
        return out

    async def rows(self, job: EvalJob) -> list[DataRow]:
        d = job.data
        if d.rows is not None:
            return inline_rows(d.rows)
        assert d.dataset_id is not None
        version = int(d.version) if d.version is not None else None
        return await self.dataset_rows(
            job.org_id, d.dataset_project_id or job.project_id, d.dataset_id, version
        )

    async def written_roots(self, job: EvalJob) -> set[str]:
        """Ids of the experiment's root rows already stored: a cell whose root is written is done
        (its root is published only after its other rows were acknowledged). Under a parent
        span, the cells' roots are that span's children."""
        parent = EvalParent.of_job(job)
        if parent is not None and parent.span_id:
            return set(await self._stored_ids(job, "has(span_parents, {s:String})", s=parent.span_id))
        return set(await self._stored_ids(job, "is_root"))

    async def written_llm(self, job: EvalJob) -> frozenset[str]:
        """Ids of the `llm` rows stored for the job's cells (a resumed job deletes those its
        cells no longer write: `cell_rows.stale_llm_deletes`). Under a parent span, those of
        the span's trace; the job's row ids are its own, so other rows never match."""
        parent = EvalParent.of_job(job)
        if parent is not None and parent.root_span_id:
            ids = await self._stored_ids(
                job, "span_type = 'llm' AND root_span_id = {r:String}", r=parent.root_span_id
            )
        else:
            ids = await self._stored_ids(job, "span_type = 'llm'")
        return frozenset(ids)

    async def _stored_ids(self, job: EvalJob, where: str, **more: str) -> list[str]:
        """Ids of the stored rows of the object the job writes to that match `where`."""
        project_id, object_type, object_id = rows_target(job)
        params = {"o": job.org_id, "p": project_id, "t": object_type, "i": object_id, **more}
        _, rows = await self.store.query(
            self.store.sql(
                "SELECT DISTINCT id FROM {db}.spans WHERE org_id = {o:String} AND project_id = {p:String} "
                f"AND object_type = {{t:String}} AND object_id = {{i:String}} AND {where}"
            ),
            params,
        )
        return [r[0] for r in rows]

    async def scores(self, job: EvalJob, score_ids: list[str]) -> dict[str, list[float]]:
        """The values of each score name on the given score rows of the job (as stored now)."""
        project_id, object_type, object_id = rows_target(job)
        out: dict[str, list[float]] = {}
        for i in range(0, len(score_ids), 10_000):
            _, rows = await self.store.query(
                self.store.sql(
                    "SELECT argMax(scores_map, _xact_id) FROM {db}.spans WHERE org_id = {o:String} "
                    "AND project_id = {p:String} AND object_type = {t:String} AND object_id = {i:String} "
                    "AND id IN {ids:Array(String)} GROUP BY id"
                ),
                {
                    "o": job.org_id,
                    "p": project_id,
                    "t": object_type,
                    "i": object_id,
                    "ids": score_ids[i : i + 10_000],
                },
            )
            for (scores,) in rows:
                for name, value in scores.items():
                    out.setdefault(name, []).append(float(value))
        return out
