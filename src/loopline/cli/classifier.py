"""`loopline classifier …`: a project's classifiers (taxonomies), previews, corrections, backfill and
status, through a running Loopline's HTTP API (`/v1/project/{id}/classifier…`) with an API key.

A classifier is named by its id or by its facet (`Intent`). A taxonomy comes from a JSON file
(`--file`, the API's body: `{"facet", "labels": [{"name", "description", "examples"}], …}`) and/or
flags (`--label name` or `--label "name: description"`, `--example name=text`, `--threshold`, …);
flags override the file.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import orjson
import typer

classifier_app = typer.Typer(no_args_is_help=True, help=__doc__)

Url = Annotated[str | None, typer.Option(help="Loopline's URL (env LOOPLINE_URL / BRAINTRUST_API_URL)")]
Key = Annotated[str | None, typer.Option(help="API key (env LOOPLINE_API_KEY / BRAINTRUST_API_KEY)")]
Project = Annotated[str, typer.Option("--project", "-p", help="the project id")]
Ref = Annotated[str, typer.Argument(help="the classifier: its id or its facet (e.g. Intent)")]
FileOpt = Annotated[Path | None, typer.Option("--file", "-f", help="a JSON file with the taxonomy")]
Labels = Annotated[
    list[str] | None, typer.Option("--label", "-l", help="a label: 'name' or 'name: description' (repeat)")
]
Examples = Annotated[
    list[str] | None, typer.Option("--example", "-e", help="an example: 'name=text' (repeat)")
]
Facet = Annotated[str | None, typer.Option(help="the facet (default Intent)")]
Threshold = Annotated[float | None, typer.Option(help="below this confidence the label is 'other' (0..1)")]
TextPath = Annotated[str | None, typer.Option(help="where the text is, e.g. input.question")]
LlmFallback = Annotated[
    bool | None, typer.Option("--llm-fallback/--no-llm-fallback", help="send unsure spans to the org's LLM")
]
LlmModel = Annotated[str | None, typer.Option(help="the LLM fallback's model")]


class Api:
    def __init__(self, url: str | None, api_key: str | None) -> None:
        self.base = (
            url
            or os.environ.get("LOOPLINE_URL")
            or os.environ.get("BRAINTRUST_API_URL")
            or "http://127.0.0.1:8000"
        ).rstrip("/")
        key = api_key or os.environ.get("LOOPLINE_API_KEY") or os.environ.get("BRAINTRUST_API_KEY")
        if not key:
            typer.echo("no API key: pass --api-key or set LOOPLINE_API_KEY", err=True)
            raise typer.Exit(2)
        self.client = httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {key}"}, timeout=120.0
        )

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        try:
            r = self.client.request(
                method, path, json=body, params={k: v for k, v in params.items() if v is not None}
            )
        except httpx.HTTPError as exc:
            fail(f"could not reach Loopline at {self.base}: {exc}")
        if r.status_code != 200:
            try:
                err = r.json().get("error", {})
                message = err.get("message") or r.text
                if err.get("field"):
                    message += f" (at {err['field']})"
            except (ValueError, AttributeError):
                message = r.text
            fail(f"{method} {path} failed (HTTP {r.status_code}): {message}")
        return r.json()

    def classifier_id(self, project: str, ref: str) -> str:
        """An id as given, or the id of the project's classifier of that facet."""
        found = self.call("GET", f"/v1/project/{project}/classifier")["objects"]
        for c in found:
            if ref in (c["id"], c["facet"]):
                return str(c["id"])
        facets = ", ".join(f"{c['facet']} ({c['id']})" for c in found) or "none"
        fail(f"project {project} has no classifier {ref!r}; it has: {facets}")


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def show(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def taxonomy_body(
    file: Path | None,
    labels: list[str] | None,
    examples: list[str] | None,
    facet: str | None,
    threshold: float | None,
    text_path: str | None,
    llm_fallback: bool | None,
    llm_model: str | None,
) -> dict[str, Any]:
    """The API body from a file and flags (flags win). Exits 2 on a bad file or flag."""
    body: dict[str, Any] = {}
    if file is not None:
        try:
            body = orjson.loads(file.read_bytes())
        except OSError as exc:
            fail(f"cannot read {file}: {exc}", 2)
        except orjson.JSONDecodeError as exc:
            fail(f"{file} is not JSON: {exc}", 2)
        if not isinstance(body, dict):
            fail(f"{file} must hold a JSON object (the taxonomy)", 2)
    if labels:
        body["labels"] = []
        for raw in labels:
            name, _, description = raw.partition(":")
            body["labels"].append({"name": name.strip(), "description": description.strip(), "examples": []})
    for raw in examples or []:
        name, sep, text = raw.partition("=")
        target = next((lab for lab in body.get("labels") or [] if lab.get("name") == name.strip()), None)
        if not sep or target is None:
            fail(f"--example {raw!r}: use name=text with the name of a label", 2)
        target.setdefault("examples", []).append(text.strip())
    for key, value in (
        ("facet", facet),
        ("threshold", threshold),
        ("text_path", text_path),
        ("llm_fallback", llm_fallback),
        ("llm_model", llm_model),
    ):
        if value is not None:
            body[key] = value
    return body


@classifier_app.command("create")
def create(
    project: Project,
    file: FileOpt = None,
    label: Labels = None,
    example: Examples = None,
    facet: Facet = None,
    threshold: Threshold = None,
    text_path: TextPath = None,
    llm_fallback: LlmFallback = None,
    llm_model: LlmModel = None,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Create a classifier (version 1) from a file and/or flags."""
    body = taxonomy_body(file, label, example, facet, threshold, text_path, llm_fallback, llm_model)
    show(Api(url, api_key).call("POST", f"/v1/project/{project}/classifier", body))


@classifier_app.command("list")
def list_(project: Project, url: Url = None, api_key: Key = None) -> None:
    """The project's classifiers (current versions)."""
    show(Api(url, api_key).call("GET", f"/v1/project/{project}/classifier"))


@classifier_app.command("get")
def get(
    project: Project,
    classifier: Ref,
    version: Annotated[int | None, typer.Option(help="an earlier version")] = None,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """One classifier, or one of its versions."""
    api = Api(url, api_key)
    cid = api.classifier_id(project, classifier)
    show(api.call("GET", f"/v1/project/{project}/classifier/{cid}", version=version))


@classifier_app.command("update")
def update(
    project: Project,
    classifier: Ref,
    file: FileOpt = None,
    label: Labels = None,
    example: Examples = None,
    facet: Facet = None,
    threshold: Threshold = None,
    text_path: TextPath = None,
    llm_fallback: LlmFallback = None,
    llm_model: LlmModel = None,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Change a classifier (a new version when anything changed); absent fields keep their value."""
    body = taxonomy_body(file, label, example, facet, threshold, text_path, llm_fallback, llm_model)
    if not body:
        fail("nothing to change: give --file or a flag", 2)
    api = Api(url, api_key)
    cid = api.classifier_id(project, classifier)
    show(api.call("PATCH", f"/v1/project/{project}/classifier/{cid}", body))


@classifier_app.command("delete")
def delete(project: Project, classifier: Ref, url: Url = None, api_key: Key = None) -> None:
    """Delete a classifier (its labels stay on the spans)."""
    api = Api(url, api_key)
    cid = api.classifier_id(project, classifier)
    show(api.call("DELETE", f"/v1/project/{project}/classifier/{cid}"))


@classifier_app.command("classify")
def classify(
    project: Project,
    classifier: Ref,
    text: Annotated[list[str], typer.Argument(help="texts to label (nothing is written)")],
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Label texts with the current version, without writing anything."""
    api = Api(url, api_key)
    cid = api.classifier_id(project, classifier)
    show(api.call("POST", f"/v1/project/{project}/classifier/{cid}/classify", {"texts": text}))


@classifier_app.command("correct")
def correct(
    project: Project,
    classifier: Ref,
    span: Annotated[str, typer.Option(help="the logged span's row id")],
    label: Annotated[str, typer.Option(help="the right label")],
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Set the right label on a logged span: a human label, never replaced by the model."""
    api = Api(url, api_key)
    cid = api.classifier_id(project, classifier)
    show(api.call("POST", f"/v1/project/{project}/classifier/{cid}/label", {"span_id": span, "label": label}))


@classifier_app.command("backfill")
def backfill(
    project: Project,
    classifier: Ref,
    since: Annotated[
        str | None, typer.Option(help="ISO-8601 start (default: 30 days before --until)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="ISO-8601 end (default: now)")] = None,
    job: Annotated[str | None, typer.Option(help="follow this existing job instead of starting one")] = None,
    cancel: Annotated[bool, typer.Option("--cancel", help="cancel --job")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="follow the job with a progress bar")] = True,
    poll_s: Annotated[float, typer.Option(help="seconds between progress reads")] = 1.0,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Label the project's existing root spans in a time range with the current version, as a
    job on the server (it carries on, and resumes after a restart, whether this command waits
    or not). Exits 1 if the job fails or is cancelled."""
    api = Api(url, api_key)
    cid = api.classifier_id(project, classifier)
    base = f"/v1/project/{project}/classifier/{cid}/backfill"
    if cancel:
        if job is None:
            fail("--cancel needs --job", 2)
        show(api.call("POST", f"{base}/{job}/cancel"))
        return
    if job is None:
        body = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
        state = api.call("POST", base, body)
        typer.echo(
            f"backfill {state['id']}: root spans created {state['since']} .. {state['until']}, "
            f"version {state['version']}",
            err=True,
        )
    else:
        state = api.call("GET", f"{base}/{job}")
    if wait:
        state = follow(api, f"{base}/{state['id']}", state, poll_s)
    show(state)
    if state["state"] in ("failed", "cancelled"):
        raise typer.Exit(1)


def follow(api: Api, path: str, state: dict[str, Any], poll_s: float) -> dict[str, Any]:
    """Poll a job until it ends, drawing its progress; Ctrl-C stops watching, not the job."""
    try:
        while not state.get("total") and state["state"] in ("queued", "running"):
            time.sleep(poll_s)  # the runner counts the range's spans first
            state = api.call("GET", path)
        total = max(int(state.get("total") or 0), 1)
        shown = 0
        with typer.progressbar(length=total, label="labelling", file=sys.stderr) as bar:
            while True:
                scanned = min(int(state.get("scanned") or 0), total)
                if scanned > shown:
                    bar.update(scanned - shown)
                    shown = scanned
                if state["state"] not in ("queued", "running"):
                    if state["state"] == "done" and shown < total:
                        bar.update(total - shown)
                    return state
                time.sleep(poll_s)
                state = api.call("GET", path)
    except KeyboardInterrupt:
        typer.echo(f"\nstopped watching; the job goes on (cancel: --job {state['id']} --cancel)", err=True)
        raise typer.Exit(130) from None


@classifier_app.command("status")
def status(
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="also this project's classifiers and jobs")
    ] = None,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """The classifier's consumer (running, lag), model, settings; with --project its classifiers and jobs."""
    show(Api(url, api_key).call("GET", "/v1/classifier/status", project_id=project))
