"""The ClickHouse store: a clickhouse-connect client built from a DSN, used off the event loop.

`chdb:///path` runs the embedded engine in this process (one data directory per process);
`http(s)://user:password@host:port/database` talks to a ClickHouse server. Calls run in a
thread pool so the asyncio loop never blocks on the store.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlparse

import clickhouse_connect
import orjson
from clickhouse_connect.driver.client import Client
from loopline.common.os_threads import naming
from loopline.common.store.cluster import CLUSTER_INSERT_SETTINGS, check_cluster_name, on_cluster

T = TypeVar("T")


class StoreError(Exception):
    """The store rejected a call or could not be reached (retry later: HTTP 503)."""


class StoreQueryError(StoreError):
    """The store is up and answered, but refused this statement because of what it holds or was
    given (a value a cast cannot parse, a type mismatch, bad SQL): retrying cannot help, so this
    is never "the store is unavailable". `code` is ClickHouse's error code.

    A subclass of `StoreError`, so every `except StoreError` still catches it; an HTTP layer
    should map it to a 4xx naming the problem (422), not to 503."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


#: ClickHouse error codes that depend on the statement or the data, not on the store's health.
QUERY_ERROR_CODES: frozenset[int] = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        26,  # CANNOT_PARSE_QUOTED_STRING
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        36,  # BAD_ARGUMENTS
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        42,  # NUMBER_OF_ARGUMENTS_DOESNT_MATCH
        43,  # ILLEGAL_TYPE_OF_ARGUMENT
        44,  # ILLEGAL_COLUMN
        46,  # UNKNOWN_FUNCTION
        47,  # UNKNOWN_IDENTIFIER
        53,  # TYPE_MISMATCH
        62,  # SYNTAX_ERROR
        69,  # ARGUMENT_OUT_OF_BOUND
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        115,  # UNKNOWN_SETTING
        117,  # INCORRECT_DATA (e.g. "Duplicate path found" casting text to JSON)
        128,  # TOO_LARGE_ARRAY_SIZE
        130,  # CANNOT_READ_ARRAY_FROM_TEXT
        131,  # TOO_LARGE_STRING_SIZE
        153,  # ILLEGAL_DIVISION
        190,  # SIZES_OF_ARRAYS_DONT_MATCH
        306,  # TOO_DEEP_RECURSION
        321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        386,  # NO_COMMON_TYPE
        395,  # FUNCTION_THROW_IF_VALUE_IS_NON_ZERO
        407,  # DECIMAL_OVERFLOW
    }
)
_CODE = re.compile(r"Code: (\d+)\.")


def store_error(exc: BaseException) -> StoreError:
    """The `StoreError` for a driver exception: a `StoreQueryError` when the store answered with a
    statement/data error (see `QUERY_ERROR_CODES`), else a plain `StoreError` (unreachable,
    overloaded, timed out, ...)."""
    if isinstance(exc, StoreError):
        return exc
    text = str(exc)
    m = _CODE.search(text)
    if m is not None and int(m.group(1)) in QUERY_ERROR_CODES:
        return StoreQueryError(text, int(m.group(1)))
    return StoreError(text)


def _make_client(dsn: str, chdb_options: dict[str, int] | None = None) -> Client:
    parsed = urlparse(dsn)
    if parsed.scheme == "chdb":
        path = dsn.split("://", 1)[1]
        if path not in ("", "memory", ":memory:"):
            from pathlib import Path

            Path(path).mkdir(parents=True, exist_ok=True)
        # start-up options (server settings such as cache sizes) take effect only when this
        # connection starts the process's engine; later connections share it as it is
        return clickhouse_connect.get_client(dsn=dsn, chdb_options=chdb_options or None)
    if parsed.scheme in ("http", "https"):
        return clickhouse_connect.get_client(dsn=dsn, autogenerate_session_id=False)
    raise StoreError(f"unsupported store DSN {dsn!r}: use chdb:///dir or http(s)://host:port")


class Store:
    """Async facade over a clickhouse-connect client."""

    def __init__(
        self,
        dsn: str,
        database: str = "loopline",
        *,
        workers: int | None = None,
        chdb_options: dict[str, int] | None = None,
        cluster: str = "",
    ) -> None:
        """`cluster`: the ClickHouse cluster the schema lives on (store/cluster.py), or ''."""
        self.dsn = dsn
        self.cluster = check_cluster_name(cluster) if cluster else ""
        if self.cluster and dsn.startswith("chdb://"):
            raise StoreError("a ClickHouse cluster needs a ClickHouse server (http(s)://), not chdb://")
        #: settings of every insert: synchronous Distributed inserts on a cluster
        self.insert_settings: dict[str, Any] = dict(CLUSTER_INSERT_SETTINGS) if self.cluster else {}
        self.chdb_options = chdb_options
        self.database = database
        self.embedded = dsn.startswith("chdb://")
        self._client: Client | None = None
        n = workers or (4 if self.embedded else 8)
        self._pool = ThreadPoolExecutor(
            max_workers=n, thread_name_prefix="store", initializer=naming("ll-store")
        )

    @property
    def client(self) -> Client:
        if self._client is None:
            raise StoreError("store is not open")
        return self._client

    async def open(self) -> None:
        if self._client is None:
            self._client = await self._run(_make_client, self.dsn, self.chdb_options)
            for stmt in self.schema_statements(f"CREATE DATABASE IF NOT EXISTS {self.database}"):
                await self.command(stmt)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, client.close)
        self._pool.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def schema_statements(self, statement: str) -> list[str]:
        """A schema statement as this store runs it: as written, or its cluster form."""
        return on_cluster(statement, self.cluster) if self.cluster else [statement]

    def sql(self, text: str) -> str:
        """Format a statement template that refers to the database as `{db}`."""
        return text.replace("{db}", self.database)

    async def command(self, sql: str, parameters: dict[str, Any] | None = None, **kw: Any) -> Any:
        try:
            return await self._run(self.client.command, sql, parameters=parameters, **kw)
        except StoreError:
            raise
        except Exception as exc:
            raise store_error(exc) from exc

    async def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a query; return (column names, rows)."""

        def run() -> tuple[list[str], list[tuple[Any, ...]]]:
            res = self.client.query(sql, parameters=parameters, settings=settings)
            return list(res.column_names), [tuple(r) for r in res.result_rows]

        try:
            return await self._run(run)
        except Exception as exc:
            raise store_error(exc) from exc

    async def query_dicts(
        self, sql: str, parameters: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        cols, rows = await self.query(sql, parameters, settings)
        return [dict(zip(cols, r, strict=True)) for r in rows]

    async def insert(self, table: str, rows: Sequence[Sequence[Any]], column_names: Sequence[str]) -> None:
        if not rows:
            return
        try:
            await self._run(
                self.client.insert,
                f"{self.database}.{table}",
                [list(r) for r in rows],
                column_names=list(column_names),
                settings=self.insert_settings or None,
            )
        except Exception as exc:
            raise store_error(exc) from exc

    async def insert_json(
        self,
        table: str,
        rows: Sequence[dict[str, Any] | bytes],
        column_names: Sequence[str],
        *,
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Insert dict rows as JSONEachRow: ClickHouse parses them in C++, ~3-4x faster than
        clickhouse-connect's Python-side column serialization for wide rows with big strings.

        Each row's keys must be exactly `column_names` (rows are encoded as they are; an unknown
        key is an error); a row may also come already encoded (one JSON object, bytes).
        `settings`: extra ClickHouse settings for this insert."""
        if not rows:
            return
        body = b"\n".join([r if type(r) is bytes else orjson.dumps(r) for r in rows])
        await self.insert_body(table, body, column_names, settings=settings)

    async def insert_body(
        self,
        table: str,
        body: bytes | memoryview,
        column_names: Sequence[str],
        *,
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Insert a JSONEachRow body (rows already encoded, one JSON object a line, keys exactly
        `column_names`), as `insert_json` does. The embedded engine reads a memoryview as it is;
        a server gets bytes."""
        if not len(body):
            return
        if not self.embedded and type(body) is not bytes:
            body = bytes(body)
        try:
            await self._run(
                self.client.raw_insert,
                f"{self.database}.{table}",
                list(column_names),
                insert_block=body,
                settings={
                    "date_time_input_format": "best_effort",
                    "input_format_skip_unknown_fields": 0,
                    # JSON-typed companions keep user strings as strings (no Date/DateTime inference)
                    "input_format_try_infer_dates": 0,
                    "input_format_try_infer_datetimes": 0,
                    # an object or array given for a String column is stored as its JSON text,
                    # verbatim (the defaults; stated so that a server configured otherwise still
                    # stores the same text): the writer's rows (`stored_row.insert_line`)
                    "input_format_json_read_objects_as_strings": 1,
                    "input_format_json_read_arrays_as_strings": 1,
                    **self.insert_settings,
                    **(settings or {}),
                },
                fmt="JSONEachRow",
            )
        except Exception as exc:
            raise store_error(exc) from exc

    async def ping(self) -> bool:
        try:
            await self._run(self.client.command, "SELECT 1")
            return True
        except Exception:
            return False
