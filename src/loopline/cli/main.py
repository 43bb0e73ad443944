"""`loopline`: run Loopline (embedded or one service per process) and administer it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from loopline.common.logging import configure_logging
from loopline.common.service import ServiceContext, ServiceStates
from loopline.common.settings import Settings, SettingsError, load_settings

from loopline.cli import classifier_loop as _classifier_loop  # noqa: F401  (its commands join classifier_app)
from loopline.cli.analyze import analyze
from loopline.cli.classifier import classifier_app
from loopline.cli.dlq import dlq_app
from loopline.cli.eval_cmd import eval_app
from loopline.cli.loop_eval import loop_eval
from loopline.runtime.registry import ALL_SERVICES, all_migrations, parse_services
from loopline.runtime.server import http_limits, write_line
from loopline.runtime.server import serve as run_server

if TYPE_CHECKING:
    from loopline.gateway.keys import ApiKeyInfo, KeyStore

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
keys_app = typer.Typer(no_args_is_help=True, help="Manage API keys (offline: opens the store).")
app.add_typer(keys_app, name="keys")
app.add_typer(dlq_app, name="dlq")
app.add_typer(classifier_app, name="classifier")
app.add_typer(eval_app, name="eval")
app.command("analyze")(analyze)
app.command("loop-eval")(loop_eval)

EMBEDDED = ("gateway", "ingest", "writer", "query", "evaluator", "classifier", "loop-agent")


def _settings(**overrides: Any) -> Settings:
    try:
        s = load_settings(**overrides)
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    configure_logging(s.log_format, s.log_level)
    return s


def _context(s: Settings, services: tuple[str, ...]) -> ServiceContext:
    """The services' shared context; a bad value in a service's settings section exits with 2."""
    from loopline.runtime.app import build_context

    try:
        return build_context(s, services)
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@app.command()
def up(
    data_dir: Annotated[Path | None, typer.Option(help="data directory (default ./.loopline)")] = None,
    host: Annotated[str | None, typer.Option(help="listen address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="listen port (default 8000)")] = None,
    bus: Annotated[str | None, typer.Option(help="memory:// (default) or kafka://host:port")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config file")] = None,
) -> None:
    """Run every service in one process: embedded store, in-process bus (or --bus kafka://)."""
    from loopline.gateway.settings import GatewaySettings
    from loopline.gateway.web import find_web_dir

    from loopline.runtime.app import build_app
    from loopline.runtime.bootstrap import bootstrap_dev_key, first_owner_link

    s = _settings(config_file=config, data_dir=data_dir, host=host, port=port, bus_url=bus)
    if not s.store_dsn.startswith(("http://", "https://")):
        s.store_dsn = s.effective_store_dsn
    ctx = _context(s, EMBEDDED)

    async def announce(c: ServiceContext, states: ServiceStates) -> None:
        org_id, key = await bootstrap_dev_key(c, states)
        base = f"http://{s.host}:{s.port}"
        write_line(f"Loopline is running at {base}")
        web = (
            f"{base}/ (sign in with your email and password)"
            if find_web_dir(s.section(GatewaySettings).web_dir)
            else "not built (./dev web builds it; needs Node.js 20.19+ and npm)"
        )
        write_line(f"  web app:   {web}")
        write_line(f"  data dir:  {s.data_dir.resolve()}")
        write_line(f"  bus:       {s.bus_url}")
        link = await first_owner_link(c, states, org_id, base)
        if link is not None:
            write_line(f"  first owner: {link}")
            write_line("               (one-time link: open it to create the org's owner and sign in)")
        write_line(f"  API key:   {key}")
        write_line(
            f"  use it:    export BRAINTRUST_API_URL=http://{s.host}:{s.port} BRAINTRUST_API_KEY={key}"
        )

    raise typer.Exit(run_server(build_app(ctx, on_ready=announce), s.host, s.port, http_limits(s)))


@app.command()
def serve(
    services: Annotated[str, typer.Argument(help=f"comma-separated services: {', '.join(ALL_SERVICES)}")],
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config file")] = None,
) -> None:
    """Run some services in this process (distributed mode: Kafka bus, ClickHouse DSN from settings)."""
    from loopline.runtime.app import build_app

    s = _settings(config_file=config, host=host, port=port)
    try:
        names = parse_services(services)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    ctx = _context(s, names)
    on_ready = None
    if "gateway" in names and s.bootstrap_api_key:
        from loopline.runtime.bootstrap import bootstrap_dev_key

        async def on_ready(c: ServiceContext, states: ServiceStates) -> None:  # the operator's first key
            await bootstrap_dev_key(c, states)

    raise typer.Exit(run_server(build_app(ctx, on_ready=on_ready), s.host, s.port, http_limits(s)))


def _with_keystore(s: Settings, fn: Callable[[KeyStore], Awaitable[T]]) -> T:
    from loopline.common.store import Store, apply_migrations
    from loopline.gateway.keys import KeyStore

    async def run() -> T:
        store = Store(s.effective_store_dsn, s.database)
        await store.open()
        try:
            await apply_migrations(store, all_migrations())
            return await fn(KeyStore(store))
        finally:
            await store.close()

    return asyncio.run(run())


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="a label for the key")] = "cli",
    org: Annotated[str | None, typer.Option(help="organization name (default: the bootstrap org)")] = None,
    data_dir: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    s = _settings(data_dir=data_dir)

    async def go(ks: KeyStore) -> tuple[str, ApiKeyInfo]:
        org_id = await ks.ensure_org(org or s.bootstrap_org_name)
        return await ks.create_key(org_id, name)

    key, info = _with_keystore(s, go)
    typer.echo(f"{key}\n(id {info.id}, prefix {info.prefix}; shown once)")


@keys_app.command("list")
def keys_list(
    org: Annotated[str | None, typer.Option(help="only this organization's keys")] = None,
    data_dir: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """List keys by prefix (never the key itself)."""
    s = _settings(data_dir=data_dir)

    async def go(ks: KeyStore) -> list[ApiKeyInfo]:
        org_id = await _org_id(ks, org)
        return await ks.list_keys(org_id)

    listed = _with_keystore(s, go)
    if not listed:
        typer.echo("no API keys")
    for k in listed:
        state = f"revoked {k.revoked:%Y-%m-%d %H:%M}" if k.revoked else "active"
        typer.echo(
            f"{k.prefix}…  {k.id}  {k.name}  org={k.org_id}  created={k.created:%Y-%m-%d %H:%M}  {state}"
        )


@keys_app.command("revoke")
def keys_revoke(
    key_id_or_prefix: Annotated[str, typer.Argument(help="key id or display prefix")],
    org: Annotated[str | None, typer.Option(help="only this organization's keys")] = None,
    all_matching: Annotated[
        bool, typer.Option("--all", help="revoke every key the prefix matches (else it must be unique)")
    ] = False,
    data_dir: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Revoke a key by id or prefix (servers stop accepting it within seconds)."""
    s = _settings(data_dir=data_dir)

    async def go(ks: KeyStore) -> tuple[list[ApiKeyInfo], bool]:
        org_id = await _org_id(ks, org)
        matches = await ks.matching(key_id_or_prefix, org_id)
        if len(matches) > 1 and not all_matching:
            return matches, False
        return await ks.revoke(key_id_or_prefix, org_id), True

    found, done = _with_keystore(s, go)
    if not found:
        typer.echo(f"no active key matches {key_id_or_prefix!r}", err=True)
        raise typer.Exit(1)
    if not done:
        typer.echo(
            f"{key_id_or_prefix!r} matches {len(found)} active keys; give a longer prefix or the id, "
            "or pass --all:",
            err=True,
        )
        for k in found:
            typer.echo(f"  {k.prefix}…  {k.id}  {k.name}", err=True)
        raise typer.Exit(1)
    for k in found:
        typer.echo(f"revoked {k.prefix}… ({k.id})")


async def _org_id(ks: KeyStore, org: str | None) -> str | None:
    if org is None:
        return None
    org_id = await ks.find_org(org)
    if org_id is None:
        typer.echo(f"no organization named {org!r}", err=True)
        raise typer.Exit(1)
    return org_id


def main() -> None:
    app()
