"""How the query service's domain errors are answered at the HTTP edge (`ServiceDef.errors`):
BTQL's errors and a query the store could not run, with the BTQL error body
(`{"Message": "<class>: <message>", "error": {"class", "message", "line", "column", ...}}`).

The common rows (`ServiceError`, the problem kinds the readers and async jobs raise, the store's
errors) are in `loopline.common.http.COMMON_ERRORS`."""

from __future__ import annotations

from loopline.common.http import ErrorRule, ErrorTable
from loopline.query.btql_http import QueryFailed, btql_error_body, query_failed_body

from loopline import btql

ERRORS = ErrorTable(
    {
        btql.BtqlError: ErrorRule(400, body=btql_error_body),  # parse, bind, type, lint errors
        btql.ScopeError: ErrorRule(403, body=btql_error_body),  # a source the caller may not read
        QueryFailed: ErrorRule(status=lambda e: e.classify()[0], body=query_failed_body),
    }
)
