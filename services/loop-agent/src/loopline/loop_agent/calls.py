"""How the loop agent reaches the other services as its caller: `ServiceCalls` (libs/common),
in-process into this process's app when the services run here, else through the gateway's URL."""

from __future__ import annotations

from loopline.common.service import ServiceContext
from loopline.common.service_calls import HttpServiceCalls, InProcessServiceCalls, ServiceCalls
from starlette.types import ASGIApp


class CallsChooser:
    """One `ServiceCalls` per process: HTTP to the gateway when it runs elsewhere, else in-process
    (built on the first request, from the app serving it)."""

    def __init__(self, ctx: ServiceContext) -> None:
        gateway_url = ctx.settings.service_urls.get("gateway")
        self.http: HttpServiceCalls | None = None
        if "gateway" not in ctx.services and gateway_url:
            self.http = HttpServiceCalls(gateway_url, ctx.settings.internal_token)
        self._local: InProcessServiceCalls | None = None

    def for_app(self, app: ASGIApp) -> ServiceCalls:
        if self.http is not None:
            return self.http
        if self._local is None:
            self._local = InProcessServiceCalls(app)
        return self._local

    async def stop(self) -> None:
        for c in (self.http, self._local):
            if c is not None:
                await c.close()
