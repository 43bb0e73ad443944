"""The classifier service definition (the routes and the rows.committed consumer come next)."""

from __future__ import annotations

from loopline.classifier import tables
from loopline.common.service import ServiceDef

SERVICE = ServiceDef(name="classifier", migrations=tables.MIGRATIONS)
