"""The public entry points (re-exported by `loopline.btql`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from loopline.btql import ast as A
from loopline.btql.binder import Binder, BoundQuery
from loopline.btql.compiler import CompiledQuery, compile_bound, explain_compiled, fingerprint_of
from loopline.btql.errors import BindError, ParseError
from loopline.btql.json_ast import query_from_json
from loopline.btql.options import Limits, Scope, SourceRef, source_of
from loopline.btql.parser import parse_text
from loopline.btql.rollup import CleanHour

QueryInput = str | Mapping[str, Any] | A.Query
_DEFAULT_LIMITS = Limits()
# The store refuses longer SQL text (ClickHouse's default `max_query_size`, which the compiled
# settings keep): refused here first, with a BTQL error that says what to change.
MAX_SQL_LENGTH = 262_144


def parse(query: QueryInput) -> A.Query:
    """Parse BTQL text (pipe/clause or SQL syntax) or a JSON AST object into a `Query`.

    Raises `ParseError` (with line/column and what was expected) on malformed input.
    """
    if isinstance(query, A.Query):
        return query
    if isinstance(query, Mapping):
        return query_from_json(query)
    if isinstance(query, str):
        s = query.lstrip()
        if s.startswith("{"):
            try:
                obj = json.loads(query)
            except ValueError as e:
                raise ParseError(f"invalid JSON query: {e}", 1, 1) from None
            return query_from_json(obj)
        return parse_text(query)
    raise ParseError("query must be a string or a JSON object")


def bind(query: QueryInput, *, fast_json: bool = True) -> BoundQuery:
    """Parse and bind (names, types, aggregates) without a scope; raises BindError/TypeError."""
    q = parse(query)
    return Binder(q, source_of(q), fast_json=fast_json).bind()


def compile_query(
    query: QueryInput,
    scope: Scope,
    *,
    limits: Limits | None = None,
    db: str = "loopline",
    tz_offset: int = 0,
    lint_mode: str = "default",
    text_casefold: dict[str, bool] | None = None,
    audit_log: bool = False,
    rollup_hours: Sequence[CleanHour] | None = None,
) -> CompiledQuery:
    """Compile a query to parameterised ClickHouse SQL, read only within `scope`.

    - `scope`: the org and objects the caller may read (see `source_of` to learn what the
      query asks for); a query whose `from:` does not match raises `ScopeError`.
    - `limits`: default/max limit and the ClickHouse settings returned in `.settings`.
    - `db`: database name (letters, digits, underscore).
    - `tz_offset`: minutes behind UTC (JS `getTimezoneOffset`), for day/week/... bucketing.
    - `lint_mode`: "strict" turns lint warnings into `LintError`.
    - `audit_log`: `select: *` also returns each row's `audit_data` (the request's `audit_log`).
    - `rollup_hours`: the project's clean pre-aggregated hours (`rollup.py`), when the caller
      fetched them because a first compile said `rollup_eligible`.
    """
    q = parse(query)
    if not isinstance(tz_offset, int) or isinstance(tz_offset, bool) or abs(tz_offset) > 24 * 60:
        raise ParseError("tz_offset must be an integer number of minutes within a day")
    src = source_of(q)
    bq = Binder(q, src, audit_log=audit_log).bind()

    def fingerprint() -> str:
        return fingerprint_of(
            [
                dataclasses.replace(q, cursor=None, limit=None),
                scope.org_id,
                scope.object_type,
                sorted(scope.object_ids),
                scope.version,
                tz_offset,
                audit_log,
            ]
        )

    cq = compile_bound(
        bq,
        scope,
        limits=limits or _DEFAULT_LIMITS,
        db=db,
        tz_offset=tz_offset,
        lint_mode=lint_mode,
        fingerprint=fingerprint,
        text_casefold=text_casefold,
        rollup_hours=rollup_hours,
    )
    if len(cq.sql) > MAX_SQL_LENGTH:
        raise BindError(
            f"the query is too large: it compiles to {len(cq.sql)} characters of SQL, more than the "
            f"store's limit of {MAX_SQL_LENGTH}; use fewer terms (e.g. one IN list instead of many ORs)",
            1,
            1,
        )
    return cq


def explain(query: QueryInput, scope: Scope, **kwargs: Any) -> str:
    """The compiled SQL, parameters, settings and columns as readable text (for debugging)."""
    return explain_compiled(compile_query(query, scope, **kwargs))


__all__ = ["QueryInput", "SourceRef", "bind", "compile_query", "explain", "parse", "source_of"]
