"""`loopline eval run|status|cancel|list`: server-side evals of a running Loopline (`/v1/eval`).

A function is named on the command line as: a JSON object (any reference of the invoke API,
e.g. '{"inline_prompt": {...}}'), `id:<function id>`, `<project>/<slug>` (a saved function), or
a bare name (a global function: an autoevals scorer such as `Levenshtein`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer

from loopline.cli.dlq import KeyOpt, UrlOpt, _call, _target

eval_app = typer.Typer(
    no_args_is_help=True,
    help="Run server-side evals (POST /v1/eval) and follow their jobs. Name a function (--task, "
    "--scorer) as a JSON reference object, id:<function id>, <project>/<slug> (a saved function) "
    "or a bare name (a global function: an autoevals scorer such as Levenshtein).",
)


def function_arg(spec: str) -> dict[str, Any]:
    """A function reference from its command-line form (see the module's doc)."""
    s = spec.strip()
    if s.startswith("{"):
        try:
            ref = orjson.loads(s)
        except orjson.JSONDecodeError as exc:
            raise typer.BadParameter(f"not valid JSON: {exc}") from None
        if not isinstance(ref, dict):
            raise typer.BadParameter("a JSON function reference must be an object")
        return ref
    if s.startswith("id:"):
        return {"function_id": s[3:]}
    if "/" in s:
        project, _, slug = s.rpartition("/")
        return {"project_name": project, "slug": slug}
    if not s:
        raise typer.BadParameter("empty function name")
    return {"global_function": s}


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Inline rows from a JSON array or JSON-lines file of `{input, expected?, metadata?}`."""
    text = path.read_text()
    try:
        if text.lstrip().startswith("["):
            rows = orjson.loads(text)
        else:
            rows = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    except orjson.JSONDecodeError as exc:
        raise typer.BadParameter(f"{path}: not JSON or JSON lines: {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise typer.BadParameter(f"{path}: every row must be a JSON object")
    return rows


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """(event, decoded data) of a text/event-stream."""
    event: str = "message"
    data: list[str] = []
    for line in lines:
        if line == "":
            if data or event != "message":
                raw = "\n".join(data)
                yield event, (orjson.loads(raw) if raw else None)
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


def _print_summary(summary: dict[str, Any]) -> None:
    typer.echo(f"\nexperiment {summary.get('experiment_name')}  {summary.get('experiment_url') or ''}")
    if summary.get("comparison_experiment_name"):
        typer.echo(f"compared with {summary['comparison_experiment_name']}")
    for name, s in (summary.get("scores") or {}).items():
        diff = s.get("diff")
        delta = f"  ({diff:+.2%})" if isinstance(diff, (int, float)) else ""
        ups = (
            f"  {s.get('improvements')} improvements, {s.get('regressions')} regressions"
            if diff is not None
            else ""
        )
        typer.echo(f"  {name:<24} {s.get('score', 0):.2%}{delta}{ups}")
    for name, m in (summary.get("metrics") or {}).items():
        typer.echo(f"  {name:<24} {m.get('metric', 0):.4g} {m.get('unit', '')}")


def follow(events: Iterator[tuple[str, Any]], *, json_out: bool) -> int:
    """Show a job's stream (progress bar, then its summary); the exit code of its outcome."""
    bar: Any = None
    shown = 0
    code = 0
    try:
        for event, data in events:
            if json_out:
                typer.echo(orjson.dumps({"event": event, "data": data}).decode())
            if event == "start" and not json_out:
                typer.echo(f"eval job {data['job_id']}: experiment {data.get('experiment_name')}", err=True)
            elif event == "progress" and not json_out:
                if bar is None:
                    bar = typer.progressbar(
                        length=max(int(data.get("total") or 0), 1), label="cells", file=sys.stderr
                    )
                    bar.__enter__()
                bar.update(int(data["done"]) - shown)
                shown = int(data["done"])
            elif event == "summary" and not json_out:
                if bar is not None:
                    bar.__exit__(None, None, None)
                    bar = None
                _print_summary(data)
            elif event == "error":
                code = 1
                if not json_out:
                    typer.echo(f"\n{data}", err=True)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    return code


def _stream(method: str, url: str, headers: dict[str, str], body: Any, json_out: bool) -> int:
    try:
        with httpx.stream(method, url, headers=headers, json=body, timeout=httpx.Timeout(60, read=None)) as r:
            if r.status_code >= 400:
                r.read()
                typer.echo(f"{r.status_code}: {r.text}", err=True)
                return 1
            return follow(sse_events(r.iter_lines()), json_out=json_out)
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach Loopline at {url}: {exc}", err=True)
        return 1


JsonOpt = Annotated[bool, typer.Option("--json", help="print the events / objects as JSON lines")]


@eval_app.command("run")
def eval_run(
    task: Annotated[str, typer.Option(help="the task function (see `loopline eval --help`)")],
    scorer: Annotated[list[str], typer.Option(help="a scorer function; repeat for several")],
    project: Annotated[str | None, typer.Option(help="project name (created if missing)")] = None,
    project_id: Annotated[str | None, typer.Option(help="project id")] = None,
    dataset: Annotated[str | None, typer.Option(help="dataset name in the project")] = None,
    dataset_id: Annotated[str | None, typer.Option(help="dataset id")] = None,
    dataset_version: Annotated[str | None, typer.Option(help="dataset version (transaction id)")] = None,
    data: Annotated[Path | None, typer.Option(help="inline rows: a JSON array or JSON-lines file")] = None,
    experiment: Annotated[
        str | None, typer.Option(help="experiment name (a taken name gets a suffix)")
    ] = None,
    base: Annotated[str | None, typer.Option(help="base experiment name to compare with")] = None,
    trials: Annotated[int, typer.Option(min=1)] = 1,
    concurrency: Annotated[int, typer.Option(min=1, help="cells at once")] = 10,
    timeout_ms: Annotated[int | None, typer.Option(help="per task/scorer call")] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Launch an eval and follow it with a progress bar; prints the summary (exit 1 if it fails)."""
    base_url, headers = _target(url, api_key)
    if bool(project) == bool(project_id):
        raise typer.BadParameter("give --project or --project-id")
    sources = [x for x in (dataset, dataset_id, data) if x]
    if len(sources) != 1:
        raise typer.BadParameter("give one of --dataset, --dataset-id or --data")
    pid = project_id or _call("POST", f"{base_url}/v1/project", headers, json={"name": project})["id"]
    body_data: dict[str, Any]
    if data is not None:
        body_data = {"data": read_rows(data)}
    elif dataset_id:
        body_data = {"dataset_id": dataset_id}
    else:
        body_data = {
            "dataset_name": dataset,
            **({"project_name": project} if project else {"project_id": pid}),
        }
    if dataset_version and "data" not in body_data:
        body_data["dataset_version"] = dataset_version
    body: dict[str, Any] = {
        "project_id": pid,
        "data": body_data,
        "task": function_arg(task),
        "scores": [function_arg(s) for s in scorer],
        "trial_count": trials,
        "max_concurrency": concurrency,
        "stream": True,
    }
    if experiment:
        body["experiment_name"] = experiment
    if base:
        body["base_experiment_name"] = base
    if timeout_ms:
        body["timeout"] = timeout_ms
    raise typer.Exit(_stream("POST", f"{base_url}/v1/eval", headers, body, json_out))


@eval_app.command("status")
def eval_status(
    job_id: str,
    watch: Annotated[
        bool, typer.Option("--watch", help="follow it with a progress bar until it ends")
    ] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A job's status and progress."""
    base_url, headers = _target(url, api_key)
    if watch:
        raise typer.Exit(_stream("GET", f"{base_url}/v1/eval/{job_id}/events", headers, None, json_out))
    job = _call("GET", f"{base_url}/v1/eval/{job_id}", headers)
    if json_out:
        typer.echo(orjson.dumps(job).decode())
        return
    _print_job(job)
    for e in job.get("errors") or []:
        typer.echo(f"    error: {e}")
    if job.get("error"):
        typer.echo(f"    failed: {job['error']}")


def _print_job(job: dict[str, Any]) -> None:
    cancel = (
        " (cancel requested)" if job.get("cancel_requested") and job["status"] not in ("cancelled",) else ""
    )
    typer.echo(
        f"{job['id']}  {job['status']}{cancel}  {job['done']}/{job['total']} cells  "
        f"{job['errored']} with errors  experiment {job['experiment_name']} ({job['experiment_id']})"
    )


@eval_app.command("cancel")
def eval_cancel(job_id: str, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Cancel a job (it stops within a second or so)."""
    base_url, headers = _target(url, api_key)
    _print_job(_call("POST", f"{base_url}/v1/eval/{job_id}/cancel", headers))


@eval_app.command("list")
def eval_list(
    project_id: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option()] = None,
    limit: int = 50,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Recent jobs, newest first."""
    base_url, headers = _target(url, api_key)
    params: dict[str, Any] = {"limit": limit}
    if project_id:
        params["project_id"] = project_id
    if status:
        params["status"] = status
    jobs = _call("GET", f"{base_url}/v1/eval", headers, params=params)["objects"]
    for j in jobs:
        if json_out:
            typer.echo(orjson.dumps(j).decode())
        else:
            _print_job(j)
    if not jobs and not json_out:
        typer.echo("no eval jobs")
