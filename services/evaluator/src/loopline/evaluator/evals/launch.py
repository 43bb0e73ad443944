"""`POST /v1/eval`'s work before the job runs: check and resolve everything the request names,
create the experiment, record the job and publish it on `loopline.eval.jobs`.

Everything is resolved as the caller, in the caller's org: the project, the dataset (by id, or
by project and dataset name, through the gateway's API), the base experiment (by id or name),
the task and the scorers (looked up once, so a missing function is a 404 now rather than a
failed job later). The experiment is created through `POST /v1/experiment` with `ensure_new`,
so a name already taken gets Braintrust's suffix, exactly as the SDK's experiments do. A stored
dataset is pinned to its newest version now, so a job that resumes reads the same rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlencode

from loopline.common.auth import Principal
from loopline.common.control_plane import ControlPlane
from loopline.common.errors import Invalid, NotFound, ServiceError, TooLarge, Unavailable
from loopline.common.messages import eval_jobs
from loopline.common.messages.eval_jobs import DatasetRef, EvalJob, FunctionRef
from loopline.common.object_types import EXPERIMENT
from loopline.common.progress import wait_for_writer
from loopline.common.service_calls import ServiceAnswer, ServiceCalls
from loopline.evaluator.evals.cell_rows import cell_ids
from loopline.evaluator.evals.data import DataReader
from loopline.evaluator.evals.deps import EvalDeps
from loopline.evaluator.evals.extra_messages import parse_path
from loopline.evaluator.evals.functions import is_prompt
from loopline.evaluator.evals.job_store import JobRecord, now
from loopline.evaluator.evals.parent import EvalParent, cell_seed, local_summary
from loopline.evaluator.evals.request import RunEval, data_version, function_ref
from loopline.evaluator.runtime.parents import decode_parent
from loopline.evaluator.runtime.spans import resolve_parent


@dataclass(frozen=True)
class Launched:
    job: EvalJob
    record: JobRecord
    experiment: dict[str, Any]  # the experiment object `POST /v1/experiment` answered


def _refused(answer: ServiceAnswer, what: str) -> ServiceError:
    status = answer.status if 400 <= answer.status < 500 else 503
    return ServiceError(status, f"{what}: {answer.error_message()}")


class Launcher(EvalDeps):
    async def launch(
        self, p: Principal, body: RunEval, control: ControlPlane, calls: ServiceCalls
    ) -> Launched:
        project = await control.object_info(p.org_id, "project", body.project_id)
        if project is None:
            raise NotFound(f"project {body.project_id!r} does not exist", field="project_id")
        task = function_ref(body.task, "task")
        scorers = [function_ref(s, f"scores.{i}") for i, s in enumerate(body.scores)]
        task_fn = await self._check_function(p, task, "task")
        for i, ref in enumerate(scorers):
            await self._check_function(p, ref, f"scores.{i}")
        if body.extra_messages is not None:
            parse_path(body.extra_messages)
            if not is_prompt(task_fn):
                raise Invalid(
                    "'extra_messages' appends messages to a prompt's: the task is not a prompt",
                    field="extra_messages",
                )
        parent = await _parent(p, body, control)
        data, total_rows = await self._data(p, body, control, calls)
        base_id = await self._base_experiment(p, body, control, calls) if parent is None else None
        job_id = str(uuid.uuid4())
        trials = body.trial_count or 1
        spec: dict[str, Any] = {
            "project_id": body.project_id,
            "ensure_new": True,
            "base_exp_id": base_id,
            "metadata": body.metadata,
            "tags": body.tags,
            "public": body.is_public,
            "repo_info": body.repo_info,
        }
        if body.experiment_name:
            spec["name"] = body.experiment_name
        if data.dataset_id is not None:
            spec["dataset_id"] = data.dataset_id
            spec["dataset_version"] = data.version
        job_base: dict[str, Any] = {
            "job_id": job_id,
            "org_id": p.org_id,
            "project_id": body.project_id,
            "requested_by": p.user_id,
            "requested_role": p.role,
            "data": data,
            "task": task,
            "scorers": scorers,
            "parameters": body.parameters or {},
            "extra_messages": body.extra_messages or None,
            "strict": bool(body.strict),
            "trial_count": trials,
            "max_concurrency": body.max_concurrency,
            "timeout_ms": int(body.timeout) if body.timeout else None,
            "base_experiment_id": base_id,
            "metadata": body.metadata or {},
            "parent": parent.as_job() if parent is not None else None,
        }
        probe = len(eval_jobs.encode(EvalJob(experiment_id="0" * 36, **job_base)))
        if probe > self.settings.max_inline_bytes:
            raise TooLarge(
                f"the eval's inline data is {probe} bytes, over {self.settings.max_inline_bytes}: "
                "insert the rows into a dataset and launch with data.dataset_id",
                field="data.data",
            )
        if parent is None:
            exp = await calls.call(
                p, "POST", "/v1/experiment", {k: v for k, v in spec.items() if v is not None}
            )
            if not exp.ok or not isinstance(exp.body, dict):
                raise _refused(exp, "the experiment could not be created")
            experiment: dict[str, Any] = exp.body
            experiment_id = str(experiment["id"])
        else:  # the parent's object is filled instead (parent.py)
            experiment, experiment_id = {}, parent.object_id
        job = EvalJob(experiment_id=experiment_id, requested_xact_id=self.xact.next_str(), **job_base)
        rec = JobRecord(
            org_id=p.org_id,
            id=job_id,
            project_id=body.project_id,
            experiment_id=experiment_id if parent is None or parent.object_type == EXPERIMENT else "",
            experiment_name=str(experiment.get("name") or ""),
            status="queued",
            job=eval_jobs.encode(job).decode(),
            created=now(),
            total=total_rows * trials,
            requested_by=p.user_id,
        )
        await self.jobs.save(rec)
        try:
            await self.bus.publish(eval_jobs.TOPIC, [eval_jobs.CONTRACT.out(job)])
        except Exception as exc:
            await self.jobs.save(replace(rec, status="failed", error=f"not queued: {exc}", finished=now()))
            raise Unavailable(f"the eval job could not be queued: {exc}", retry_after=1) from exc
        return Launched(job, rec, experiment)

    async def _check_function(self, p: Principal, ref: FunctionRef, where: str) -> Any:
        try:
            return await self.functions.resolve(p, ref)
        except (NotFound, Invalid) as exc:
            raise type(exc)(f"'{where}': {exc.message}", field=where) from None

    async def _data(
        self, p: Principal, body: RunEval, control: ControlPlane, calls: ServiceCalls
    ) -> tuple[DatasetRef, int]:
        d = body.data
        if "data" in d:
            rows = d["data"]
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise Invalid(
                    "'data.data' must be a list of objects ({input, expected?, metadata?})", field="data.data"
                )
            return DatasetRef(rows=rows), len(rows)
        if d.get("dataset_id"):
            info = await control.object_info(p.org_id, "dataset", str(d["dataset_id"]))
            if info is None:
                raise NotFound(f"dataset {d['dataset_id']!r} does not exist", field="data.dataset_id")
            dataset_id, dataset_project = info.id, info.project_id
        elif d.get("dataset_name") and (d.get("project_name") or d.get("project_id")):
            query = {"dataset_name": str(d["dataset_name"])}
            query.update({k: str(d[k]) for k in ("project_name", "project_id") if d.get(k)})
            found = await calls.call(p, "GET", "/v1/dataset?" + urlencode(query))
            if not found.ok:
                raise _refused(found, "the dataset could not be looked up")
            objs = found.body.get("objects") if isinstance(found.body, dict) else None
            if not objs:
                raise NotFound(
                    f"dataset {d['dataset_name']!r} does not exist in project "
                    f"{d.get('project_name') or d.get('project_id')!r}",
                    field="data.dataset_name",
                )
            dataset_id, dataset_project = str(objs[0]["id"]), str(objs[0]["project_id"])
        elif d.get("experiment_name") or d.get("_internal_btql"):
            which = "experiment_name" if d.get("experiment_name") else "_internal_btql"
            raise Invalid(
                f"'data.{which}' is not supported: give data.dataset_id, data.project_name + "
                "data.dataset_name, or data.data (inline rows)",
                field=f"data.{which}",
            )
        else:
            raise Invalid(
                "'data' needs dataset_id, project_name + dataset_name, or data (inline rows)", field="data"
            )
        version = data_version(d.get("dataset_version"), "data.dataset_version")
        await wait_for_writer(self.bus, self.settings.writer_wait_s)  # rows acknowledged before now
        head, live = await self.data.dataset_head(p.org_id, dataset_project, dataset_id)
        if version is None:
            version = str(head)
        else:
            live = len(await self.data.dataset_rows(p.org_id, dataset_project, dataset_id, int(version)))
        ref = DatasetRef(dataset_id=dataset_id, dataset_project_id=dataset_project, version=version)
        return ref, live

    async def _base_experiment(
        self, p: Principal, body: RunEval, control: ControlPlane, calls: ServiceCalls
    ) -> str | None:
        if body.base_experiment_id:
            info = await control.object_info(p.org_id, "experiment", body.base_experiment_id)
            if info is None:
                raise NotFound(
                    f"experiment {body.base_experiment_id!r} does not exist", field="base_experiment_id"
                )
            return info.id
        if body.base_experiment_name:
            q = urlencode({"project_id": body.project_id, "experiment_name": body.base_experiment_name})
            found = await calls.call(p, "GET", "/v1/experiment?" + q)
            if not found.ok:
                raise _refused(found, "the base experiment could not be looked up")
            objs = found.body.get("objects") if isinstance(found.body, dict) else None
            if not objs:
                raise NotFound(
                    f"experiment {body.base_experiment_name!r} does not exist in project {body.project_id!r}",
                    field="base_experiment_name",
                )
            return str(objs[0]["id"])
        return None


async def _parent(p: Principal, body: RunEval, control: ControlPlane) -> EvalParent | None:
    """The object (and span) the eval fills instead of a new experiment, when `parent` names one
    (400 / 404 naming `parent` when it is malformed or not the caller's org's)."""
    found = decode_parent(body.parent)
    if found is None:
        return None
    return EvalParent.of_target(await resolve_parent(control, p, found))


async def summarize(
    calls: ServiceCalls,
    p: Principal,
    experiment_id: str,
    *,
    scores: bool = True,
    comparison_id: str | None = None,
) -> dict[str, Any]:
    """The experiment's summary, from the query service (`GET /v1/experiment/{id}/summarize`)."""
    q: dict[str, str] = {"summarize_scores": "true" if scores else "false"}
    if comparison_id:
        q["comparison_experiment_id"] = comparison_id
    got = await calls.call(
        p, "GET", f"/v1/experiment/{quote(experiment_id, safe='')}/summarize?{urlencode(q)}"
    )
    if not got.ok or not isinstance(got.body, dict):
        raise _refused(got, "the experiment could not be summarized")
    return got.body


async def summarize_under_parent(
    calls: ServiceCalls, data: DataReader, p: Principal, job: EvalJob
) -> dict[str, Any]:
    """The summary of an eval that filled a parent instead of an experiment: the SDK's local one,
    each score's mean over the job's score rows (parent.py)."""
    n = len(job.scorers)
    score_ids = [
        sid
        for row in await data.rows(job)
        for t in range(job.trial_count)
        for sid, _ in cell_ids(cell_seed(job), row.key, t, n).scores
    ]
    project = await calls.call(p, "GET", f"/v1/project/{quote(job.project_id, safe='')}")
    name = project.body.get("name") if project.ok and isinstance(project.body, dict) else None
    return local_summary(name, await data.scores(job, score_ids))
