"""BTQL: parser, binder and ClickHouse compiler (pure, no I/O).

Pipeline (sqlglot style): text (pipe/clause BTQL or SQL syntax, lark LALR) or JSON AST →
`Query` (frozen dataclasses, `ast.py`) → binder (names against the row schema, types,
aggregate placement; `binder.py` clause by clause, `bind_expr.py` per expression) → generator
(`generator.py`, `compiler.py`) →
`CompiledQuery` (SQL + query parameters + ClickHouse settings + column info + pagination).

Use by the query service::

    from loopline import btql

    q = btql.parse(body["query"])           # str (BTQL or SQL syntax) or the JSON AST (dict)
    src = btql.source_of(q)                  # SourceRef(object_type, object_ids, project_id, shape)
    # ... authorize `src` for the caller, then build the scope from *server-side* facts:
    scope = btql.Scope.project_logs(org_id, project_id)        # or .experiment(...), .dataset(..., version=)
    cq = btql.compile_query(q, scope, limits=btql.Limits(), db="loopline",
                            tz_offset=body.get("tz_offset", 0), lint_mode="default")
    res = client.query(cq.sql, parameters=cq.params, settings=cq.settings)
    page = cq.finish(res.column_names, res.result_rows)     # decodes values, trims, next cursor
    return {"data": page.data, "schema": cq.response_schema(), "cursor": page.cursor,
            "warnings": list(cq.warnings)}

`btql.warm_up()` builds the parser ahead of the first query (servers call it at start-up).
`btql.explain(q, scope)` (or `cq.explain()`) renders the SQL, parameters and settings for
debugging. `btql.bind(q)` checks a query without a scope (e.g. to validate saved queries).

Errors: every problem with a query is a `BtqlError` — `ParseError`, `BindError`,
`BtqlTypeError` (class name "TypeError"), `LintError` (strict lint mode), `ScopeError` (the query
names objects outside the scope). `err.to_json()` is the response body
`{"error": {"class", "message", "line", "column"[, "expected"]}}`; the HTTP status is the edge's
choice (the query service's error table: 403 for `ScopeError`, else 400).
ClickHouse errors at execution (timeouts, memory limits from `cq.settings`) are the service's.

Guarantees: user values reach ClickHouse only as query parameters (`{p0:String}`); identifiers
only from fixed allowlists (JSON-type paths only as `[A-Za-z_][A-Za-z0-9_]*` segments, backquoted);
output names chosen by users never enter the SQL (columns are `c0, c1, ...`); the tenant and
object scope come only from `Scope` and guard every read of the tables, including ANY_SPAN,
trace-selection and sampling subqueries; only allowlisted functions compile.
"""

from loopline.btql.api import bind, compile_query, explain, parse
from loopline.btql.ast import Query
from loopline.btql.compiler import CompiledQuery
from loopline.btql.errors import BindError, BtqlError, BtqlTypeError, LintError, ParseError, ScopeError
from loopline.btql.json_ast import query_to_json
from loopline.btql.options import OPTIONAL_SETTINGS, Limits, Scope, SourceRef, source_of
from loopline.btql.parser import warm_up
from loopline.btql.results import Column, Page

__all__ = [
    "OPTIONAL_SETTINGS",
    "BindError",
    "BtqlError",
    "BtqlTypeError",
    "Column",
    "CompiledQuery",
    "Limits",
    "LintError",
    "Page",
    "ParseError",
    "Query",
    "Scope",
    "ScopeError",
    "SourceRef",
    "bind",
    "compile_query",
    "explain",
    "parse",
    "query_to_json",
    "source_of",
    "warm_up",
]
