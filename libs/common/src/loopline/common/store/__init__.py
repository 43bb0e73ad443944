"""ClickHouse store (embedded chdb or server) and its migrations."""

from loopline.common.store.client import Store, StoreError
from loopline.common.store.migrations import applied_versions, apply_migrations

__all__ = ["Store", "StoreError", "applied_versions", "apply_migrations"]
