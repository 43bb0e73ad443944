"""The query service definition."""

from __future__ import annotations

from loopline.common.service import ServiceDef

SERVICE = ServiceDef(name="query")
