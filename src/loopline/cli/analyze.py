"""`loopline analyze NAME --project ID`: a pre-canned analysis of a running Loopline (no model
needed), through its HTTP API (`/v1/loop/analyze/{name}`) with an API key."""

from __future__ import annotations

import os
from typing import Annotated

import httpx
import orjson
import typer

NAMES = ("top_errors", "tool_success", "context_overflow", "provider_errors", "outliers", "intents")


def endpoint(url: str | None, api_key: str | None) -> tuple[str, str]:
    """Loopline's URL and the API key: the options, else the environment (exit 2 without a key)."""
    base = (
        url
        or os.environ.get("LOOPLINE_URL")
        or os.environ.get("BRAINTRUST_API_URL")
        or "http://127.0.0.1:8000"
    )
    key = api_key or os.environ.get("LOOPLINE_API_KEY") or os.environ.get("BRAINTRUST_API_KEY")
    if not key:
        typer.echo("no API key: pass --api-key or set LOOPLINE_API_KEY", err=True)
        raise typer.Exit(2)
    return base, key


def analyze(
    name: Annotated[str, typer.Argument(help=f"one of: {', '.join(NAMES)} (dashes work too)")],
    project: Annotated[str, typer.Option("--project", "-p", help="the project id")],
    days: Annotated[int, typer.Option(help="the window: the last N days")] = 7,
    limit: Annotated[int, typer.Option(help="at most this many items per list")] = 10,
    factor: Annotated[float, typer.Option(help="outliers: above FACTOR x the mean")] = 3.0,
    metric: Annotated[str, typer.Option(help="outliers: latency, tokens or both")] = "both",
    url: Annotated[
        str | None, typer.Option(help="Loopline's URL (env LOOPLINE_URL / BRAINTRUST_API_URL)")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="API key (env LOOPLINE_API_KEY / BRAINTRUST_API_KEY)")
    ] = None,
) -> None:
    """Run a pre-canned analysis (top errors, tool success week over week, context overflows,
    provider errors, outliers, intents) and print its JSON answer."""
    base, key = endpoint(url, api_key)
    body = {"project_id": project, "days": days, "limit": limit, "factor": factor, "metric": metric}
    try:
        r = httpx.post(
            f"{base.rstrip('/')}/v1/loop/analyze/{name.replace('-', '_')}",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=120.0,
        )
    except httpx.HTTPError as exc:
        typer.echo(f"could not reach Loopline at {base}: {exc}", err=True)
        raise typer.Exit(1) from None
    if r.status_code != 200:
        try:
            message = r.json().get("error", {}).get("message") or r.text
        except ValueError:
            message = r.text
        typer.echo(f"analysis failed (HTTP {r.status_code}): {message}", err=True)
        raise typer.Exit(1)
    typer.echo(orjson.dumps(r.json(), option=orjson.OPT_INDENT_2).decode())
