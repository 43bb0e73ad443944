"""`loopline loop-eval --model M`: measure Loop's quality with a model, against a running Loopline.

Seeds a fresh project with known answers, asks Loop each question of the evaluation
(`loop_agent/evaluation/questions.py`) with that model through the HTTP API, scores the answers
(autoevals' NumericDiff / ExactMatch / JSONDiff) and logs the run as an experiment of the seeded
project; prints a table (or the JSON report with --json). Run it once per model to compare them."""

from __future__ import annotations

import asyncio
from typing import Annotated

import httpx
import orjson
import typer

from loopline.cli.analyze import endpoint


def loop_eval(
    model: Annotated[
        str, typer.Option(help="the model Loop uses (on the org's allowlist, served by a provider)")
    ],
    only: Annotated[list[str] | None, typer.Option(help="ask only these question ids (repeatable)")] = None,
    traces: Annotated[int, typer.Option(help="traces in the seeded project")] = 160,
    log: Annotated[bool, typer.Option(help="log the run as an experiment of the seeded project")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="print the JSON report")] = False,
    url: Annotated[
        str | None, typer.Option(help="Loopline's URL (env LOOPLINE_URL / BRAINTRUST_API_URL)")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="API key (env LOOPLINE_API_KEY / BRAINTRUST_API_KEY)")
    ] = None,
) -> None:
    """Ask Loop the evaluation's questions about a freshly seeded project and score its answers."""
    from loopline.loop_agent.evaluation.harness import HarnessError, run_loop_eval

    base, key = endpoint(url, api_key)

    async def run() -> None:
        async with httpx.AsyncClient(base_url=base.rstrip("/"), timeout=600) as client:
            report = await run_loop_eval(
                client,
                {"Authorization": f"Bearer {key}"},
                model,
                only=tuple(only or ()),
                traces=traces,
                log=log,
            )
        typer.echo(
            orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode()
            if json_out
            else report.table()
        )

    try:
        asyncio.run(run())
    except HarnessError as exc:
        typer.echo(f"loop-eval failed: {exc}", err=True)
        raise typer.Exit(1) from None
    except httpx.HTTPError as exc:
        typer.echo(f"could not reach Loopline at {base}: {exc}", err=True)
        raise typer.Exit(1) from None
