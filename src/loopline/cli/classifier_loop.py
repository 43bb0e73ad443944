"""`loopline classifier …` for the improvement loop, discovery and the label reads (the commands
are added to `classifier_app`; the HTTP API they call: services/classifier loop_routes.py).

    loopline classifier dataset  Intent -p P [--name N | --dataset-id D] [--source human ...]
    loopline classifier evaluate Intent -p P --dataset-id D [--version N] [--base-experiment E]
    loopline classifier retrain  Intent -p P [--dataset-id D] [--no-corrections]
    loopline classifier discover Intent -p P [--days 7] [--no-llm] > proposals.json
    loopline classifier accept   Intent -p P NAME [--from proposals.json] [--description ...]
    loopline classifier stats    Intent -p P [--days 7]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from loopline.cli.classifier import Api, Key, Project, Ref, Url, classifier_app, fail, show

DatasetId = Annotated[str | None, typer.Option("--dataset-id", help="the dataset's id")]
Days = Annotated[int | None, typer.Option(help="the window: the last N days")]


def _body(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _post(
    url: str | None, api_key: str | None, project: str, ref: str, verb: str, body: dict[str, Any]
) -> Any:
    api = Api(url, api_key)
    cid = api.classifier_id(project, ref)
    return api.call("POST", f"/v1/project/{project}/classifier/{cid}/{verb}", body)


@classifier_app.command("dataset")
def dataset(
    classifier: Ref,
    project: Project,
    name: Annotated[str | None, typer.Option(help="a new dataset's name")] = None,
    dataset_id: DatasetId = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="whose labels: human (default), model, llm (repeat)")
    ] = None,
    min_confidence: Annotated[
        float | None, typer.Option(help="machine labels: at least this confident")
    ] = None,
    days: Days = None,
    limit: Annotated[int | None, typer.Option(help="at most this many spans")] = None,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Labelled spans → dataset records (input, expected = the label, metadata with span ids and source)."""
    body = _body(
        name=name,
        dataset_id=dataset_id,
        sources=source,
        min_confidence=min_confidence,
        days=days,
        limit=limit,
    )
    show(_post(url, api_key, project, classifier, "dataset", body))


@classifier_app.command("evaluate")
def evaluate(
    classifier: Ref,
    project: Project,
    dataset_id: Annotated[str, typer.Option("--dataset-id", help="the labelled dataset")],
    version: Annotated[int | None, typer.Option(help="the version to evaluate (default: current)")] = None,
    name: Annotated[str | None, typer.Option("--name", help="the experiment's name")] = None,
    base_experiment: Annotated[str | None, typer.Option(help="compare with this experiment id")] = None,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """A version against a labelled dataset → an experiment (accuracy, per-label precision/recall)."""
    body = _body(
        dataset_id=dataset_id, version=version, experiment_name=name, base_experiment_id=base_experiment
    )
    show(_post(url, api_key, project, classifier, "evaluate", body))


@classifier_app.command("retrain")
def retrain(
    classifier: Ref,
    project: Project,
    dataset_id: DatasetId = None,
    corrections: Annotated[
        bool, typer.Option("--corrections/--no-corrections", help="learn from the human labels")
    ] = True,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Examples + corrections (+ a labelled dataset) → the next taxonomy version."""
    show(
        _post(
            url,
            api_key,
            project,
            classifier,
            "retrain",
            _body(dataset_id=dataset_id, corrections=corrections),
        )
    )


@classifier_app.command("discover")
def discover(
    classifier: Ref,
    project: Project,
    days: Days = None,
    limit: Annotated[int | None, typer.Option(help="at most this many spans")] = None,
    min_cluster_size: Annotated[int | None, typer.Option(help="the smallest group proposed")] = None,
    max_proposals: Annotated[int | None, typer.Option(help="at most this many proposals")] = None,
    llm: Annotated[bool, typer.Option("--llm/--no-llm", help="name proposals with the org's LLM")] = True,
    model: Annotated[str | None, typer.Option(help="the naming model")] = None,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Spans labelled `other` (all, when the facet has no labels) → proposed labels."""
    body = _body(
        days=days,
        limit=limit,
        min_cluster_size=min_cluster_size,
        max_proposals=max_proposals,
        llm=llm,
        model=model,
    )
    show(_post(url, api_key, project, classifier, "discover", body))


def proposal_from(file: Path, name: str) -> dict[str, Any]:
    """The proposal called `name` in a saved `discover` answer."""
    try:
        saved = orjson.loads(file.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        fail(f"cannot read {file} as a discover answer: {exc}", 2)
    proposals = saved.get("proposals") if isinstance(saved, dict) else None
    for p in proposals if isinstance(proposals, list) else []:
        if isinstance(p, dict) and p.get("name") == name:
            return p
    names = [p.get("name") for p in proposals or [] if isinstance(p, dict)]
    fail(f"{file} has no proposal {name!r}; it has: {names}", 2)


@classifier_app.command("accept")
def accept(
    classifier: Ref,
    project: Project,
    name: Annotated[str, typer.Argument(help="the proposal's name (the new label's)")],
    from_file: Annotated[Path | None, typer.Option("--from", help="a saved `discover` answer")] = None,
    rename: Annotated[str | None, typer.Option(help="give the label another name")] = None,
    description: Annotated[str | None, typer.Option(help="the label's description")] = None,
    example: Annotated[list[str] | None, typer.Option("--example", "-e", help="an example (repeat)")] = None,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Add a proposal as a label (a new taxonomy version)."""
    label: dict[str, Any] = {"name": name, "description": "", "examples": []}
    if from_file is not None:
        p = proposal_from(from_file, name)
        label = {"name": name, "description": p.get("description") or "", "examples": p.get("examples") or []}
    if rename:
        label["name"] = rename
    if description is not None:
        label["description"] = description
    if example:
        label["examples"] = list(example)
    show(_post(url, api_key, project, classifier, "accept", label))


@classifier_app.command("stats")
def stats(
    classifier: Ref,
    project: Project,
    days: Annotated[
        int, typer.Option(help="the window, compared with the one before (7: week over week)")
    ] = 7,
    limit: Annotated[int | None, typer.Option(help="at most this many labels")] = None,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Label distribution, change against the window before, error rate and blast radius per label."""
    api = Api(url, api_key)
    cid = api.classifier_id(project, classifier)
    show(api.call("GET", f"/v1/project/{project}/classifier/{cid}/stats", days=days, limit=limit))
