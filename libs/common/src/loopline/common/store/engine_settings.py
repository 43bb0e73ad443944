"""Query settings an older ClickHouse may not know: dropped for an engine that lacks them.

A setting a newer engine offers to turn a feature off (e.g. `enable_join_runtime_filters`) is
refused by an older engine as unknown. `known_only` asks the store's engine once which of the
optional names it knows (`system.settings`) and leaves the others out of every later query's
settings. The query service and online scoring run compiled BTQL through it."""

from __future__ import annotations

import weakref
from typing import Any, Protocol


class _Queries(Protocol):
    async def query(
        self, sql: str, parameters: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]: ...


# per store: for each set of optional names asked about, the ones its engine knows
_known: weakref.WeakKeyDictionary[Any, dict[frozenset[str], frozenset[str]]] = weakref.WeakKeyDictionary()


async def known_only(store: _Queries, settings: dict[str, Any], optional: frozenset[str]) -> dict[str, Any]:
    """`settings` without those of `optional` the store's engine does not know (asked once per
    store and set of names)."""
    if not any(k in optional for k in settings):
        return settings
    per_store = _known.setdefault(store, {})
    known = per_store.get(optional)
    if known is None:
        _, rows = await store.query(
            "SELECT name FROM system.settings WHERE name IN {names:Array(String)}",
            {"names": sorted(optional)},
        )
        known = per_store[optional] = frozenset(str(r[0]) for r in rows)
    return {k: v for k, v in settings.items() if k not in optional or k in known}
