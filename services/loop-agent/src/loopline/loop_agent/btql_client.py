"""BTQL through the query service's API (`POST /btql`), as the caller's principal.

A refused query raises `BtqlFailed` with the query service's classified error (class parse / bind
/ type / runtime, message, line and column, and a suggestion when it has one): what the analyses
report and what the agent hands back to the model to repair the query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopline.common.auth import Principal
from loopline.common.service_calls import ServiceCalls


class BtqlFailed(Exception):
    """The query service refused or could not run a query."""

    def __init__(self, status: int, error: dict[str, Any], query: str) -> None:
        self.status = status
        self.error = error
        self.query = query
        super().__init__(self.describe())

    @property
    def error_class(self) -> str:
        return str(self.error.get("class") or ("RuntimeError" if self.status >= 500 else "Error"))

    def describe(self) -> str:
        where = ""
        if self.error.get("line") is not None:
            where = f" at line {self.error.get('line')}, column {self.error.get('column')}"
        return f"{self.error_class}{where}: {self.error.get('message') or 'the query failed'}"

    def for_model(self) -> dict[str, Any]:
        """The classified error as the model sees it."""
        keep = ("class", "message", "line", "column", "suggestion", "hint", "detail", "status")
        out = {k: self.error[k] for k in keep if self.error.get(k) is not None}
        out.setdefault("class", self.error_class)
        out["http_status"] = self.status
        return out


@dataclass(frozen=True)
class BtqlPage:
    data: list[dict[str, Any]]
    cursor: str | None
    schema: dict[str, Any] | None


@dataclass(frozen=True)
class BtqlClient:
    calls: ServiceCalls
    principal: Principal

    async def page(self, query: str | dict[str, Any], **options: Any) -> BtqlPage:
        text = query if isinstance(query, str) else ""
        answer = await self.calls.call(self.principal, "POST", "/btql", {"query": query, **options})
        body = answer.body if isinstance(answer.body, dict) else {}
        if not answer.ok:
            err = body.get("error")
            if not isinstance(err, dict):
                err = {"message": answer.error_message()}
            raise BtqlFailed(answer.status, err, text)
        data = body.get("data")
        return BtqlPage(data if isinstance(data, list) else [], body.get("cursor"), body.get("schema"))

    async def rows(self, query: str) -> list[dict[str, Any]]:
        return (await self.page(query)).data
