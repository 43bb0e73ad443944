"""`parent` of `POST /v1/eval`: populate the object or span the parent names instead of creating
an experiment, as the SDK's `Eval(parent=…)` does ("instead of creating a new experiment object,
the Eval() will populate the object or span specified by this parent").

The parent arrives in invoke's forms (spec §4.1: a span export string, or `{object_type,
object_id, row_ids?, propagated_event?}`), names an experiment or a project's logs of the caller's
org, and is resolved at launch (`runtime.parents` / `runtime.spans.resolve_parent`: 400 when
malformed, 404 when not the caller's). The job carries it resolved (`EvalParent.as_job`):

* every cell's rows go to that object; with a parent span, each cell's `eval` root becomes a
  child of that span and every row of the cell is in the span's trace; without one the cells are
  root spans of the object;
* the parent's `propagated_event` is merged into every row, as the SDK does;
* row ids derive from the job id (not an experiment's), so two evals under one parent never
  share rows, and a resumed job rewrites its own;
* no experiment: the summary is the SDK's local one (each score's mean over the cells, no
  metrics, no comparison), read back from the stored score rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopline.common.messages.eval_jobs import EvalJob
from loopline.common.object_types import EXPERIMENT, stored_object_id
from loopline.evaluator.runtime.spans import SpanTarget, propagate


@dataclass(frozen=True)
class EvalParent:
    object_type: str  # experiment | project_logs
    object_id: str  # the experiment id, or the project id of project logs
    project_id: str
    span_id: str | None = None
    root_span_id: str | None = None
    propagated_event: dict[str, Any] | None = None

    @staticmethod
    def of_target(t: SpanTarget) -> EvalParent:
        return EvalParent(
            t.object_type, t.object_id, t.project_id, t.parent_span_id, t.root_span_id, t.propagated_event
        )

    def as_job(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "object_type": self.object_type,
            "object_id": self.object_id,
            "project_id": self.project_id,
        }
        if self.span_id and self.root_span_id:
            out["row_ids"] = {"span_id": self.span_id, "root_span_id": self.root_span_id}
        if self.propagated_event:
            out["propagated_event"] = self.propagated_event
        return out

    @staticmethod
    def of_job(job: EvalJob) -> EvalParent | None:
        """The resolved parent a job carries (None: the job fills its own experiment)."""
        p = job.parent
        if not isinstance(p, dict) or "project_id" not in p:  # (jobs of before: parent unused)
            return None
        row_ids = p.get("row_ids") or {}
        return EvalParent(
            str(p["object_type"]),
            str(p["object_id"]),
            str(p["project_id"]),
            row_ids.get("span_id"),
            row_ids.get("root_span_id"),
            p.get("propagated_event"),
        )

    @property
    def stored_id(self) -> str:
        """The object id its rows are stored under (project logs: the log id)."""
        return stored_object_id(self.object_type, self.object_id)

    def adopt(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A cell's rows (root first) placed under the parent."""
        out = []
        for i, row in enumerate(rows):
            r = dict(row)
            if self.span_id and self.root_span_id:
                r["root_span_id"] = self.root_span_id
                if i == 0:
                    r["span_parents"] = [self.span_id]
            out.append(propagate(r, self.propagated_event))
        return out


def cell_seed(job: EvalJob) -> str:
    """What a job's row ids derive from: its experiment, or under a parent the job itself."""
    return job.job_id if EvalParent.of_job(job) is not None else job.experiment_id


def rows_target(job: EvalJob) -> tuple[str, str, str]:
    """(project id, object type, stored object id) the job's rows are written to."""
    parent = EvalParent.of_job(job)
    if parent is None:
        return job.project_id, EXPERIMENT, job.experiment_id
    return parent.project_id, parent.object_type, parent.stored_id


def local_summary(project_name: str | None, scores: dict[str, list[float]]) -> dict[str, Any]:
    """The SDK's summary of an eval without an experiment (`build_local_summary`)."""
    return {
        "project_name": project_name,
        "experiment_name": None,
        "experiment_id": None,
        "project_url": None,
        "experiment_url": None,
        "comparison_experiment_name": None,
        "scores": {
            name: {
                "name": name,
                "score": sum(values) / len(values),
                "diff": None,
                "improvements": 0,
                "regressions": 0,
            }
            for name, values in sorted(scores.items())
            if values
        },
        "metrics": {},
    }
