"""ClickHouse store (embedded chdb or server) and its migrations."""

from loopline.common.store.client import Store, StoreError, StoreQueryError
from loopline.common.store.migrations import applied_versions, apply_migrations

__all__ = ["Store", "StoreError", "StoreQueryError", "applied_versions", "apply_migrations"]
