"""`loopline dlq list|replay`: inspect and replay dead-lettered rows of a running Loopline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer

dlq_app = typer.Typer(no_args_is_help=True, help="Inspect and replay rows the writer could not apply.")

UrlOpt = Annotated[str | None, typer.Option(help="Loopline URL (default http://LOOPLINE_HOST:LOOPLINE_PORT)")]
KeyOpt = Annotated[
    str | None, typer.Option(help="API key (default $LOOPLINE_API_KEY, $BRAINTRUST_API_KEY or the dev key)")
]


def _target(url: str | None, api_key: str | None) -> tuple[str, dict[str, str]]:
    url = (
        url
        or f"http://{os.environ.get('LOOPLINE_HOST', '127.0.0.1')}:{os.environ.get('LOOPLINE_PORT', '8000')}"
    )
    key = api_key or os.environ.get("LOOPLINE_API_KEY") or os.environ.get("BRAINTRUST_API_KEY")
    if not key:
        dev = Path(os.environ.get("LOOPLINE_DATA_DIR", ".loopline")) / "dev-api-key"
        key = dev.read_text().strip() if dev.exists() else ""
    if not key:
        typer.echo("no API key: pass --api-key or set LOOPLINE_API_KEY", err=True)
        raise typer.Exit(2)
    return url.rstrip("/"), {"Authorization": f"Bearer {key}"}


def _call(method: str, url: str, headers: dict[str, str], **kw: Any) -> Any:
    try:
        r = httpx.request(method, url, headers=headers, timeout=60, **kw)
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach Loopline at {url}: {exc}", err=True)
        raise typer.Exit(1) from None
    if r.status_code >= 400:
        typer.echo(f"{r.status_code}: {r.text}", err=True)
        raise typer.Exit(1)
    return r.json()


@dlq_app.command("list")
def dlq_list(
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="include replayed ones")] = False,
    limit: int = 100,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False,
) -> None:
    """List dead letters (newest first) with the reason each was rejected."""
    base, headers = _target(url, api_key)
    rows = _call("GET", f"{base}/api/admin/dlq", headers, params={"include_replayed": all_, "limit": limit})[
        "objects"
    ]
    for r in rows:
        if json_out:
            typer.echo(orjson.dumps(r).decode())
        else:
            state = f"replayed {r['replayed']}" if r.get("replayed") else "pending"
            typer.echo(f"{r['id']}  {r['created']}  {state}  {r['key']}\n    reason: {r['reason']}")
    if not rows and not json_out:
        typer.echo("no dead letters")


@dlq_app.command("replay")
def dlq_replay(
    ids: Annotated[
        list[str] | None, typer.Argument(help="dead-letter ids (default: every pending one)")
    ] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Republish dead letters onto the rows topic (after fixing what rejected them)."""
    base, headers = _target(url, api_key)
    body = {"ids": ids} if ids else {}
    replayed = _call("POST", f"{base}/api/admin/dlq/replay", headers, json=body)["replayed"]
    typer.echo(f"replayed {len(replayed)} dead letter(s)")
