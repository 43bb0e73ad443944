"""How the loop agent's domain errors are answered at the HTTP edge (`ServiceDef.errors`)."""

from __future__ import annotations

from typing import Any

from loopline.common.http import ErrorRule, ErrorTable
from loopline.loop_agent.btql_client import BtqlFailed


def _btql_failed_body(exc: BtqlFailed, status: int) -> dict[str, Any]:
    return {"error": {**exc.for_model(), "message": exc.describe(), "query": exc.query}}


def _btql_status(exc: BtqlFailed) -> int:
    return exc.status if 400 <= exc.status < 600 else 502


ERRORS = ErrorTable({BtqlFailed: ErrorRule(status=_btql_status, body=_btql_failed_body)})
