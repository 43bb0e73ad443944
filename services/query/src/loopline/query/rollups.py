"""The pre-aggregated hours of project logs: kept fresh here, read by the BTQL compiler.

`RollupRefresher` (a worker of the query service) looks every `rollup_interval_s` for hours
that are complete and quiet (no write for `rollup_quiet_s`) and changed since their current
computation (`btql.rollup.dirty_hours_sql`), recomputes each from `spans FINAL` and records the
new computation; now and then it deletes computations superseded long enough ago that no read
still uses them. `clean_hours` is what a read asks before compiling an aggregate query the rollup
can answer (`CompiledQuery.rollup_eligible`).

Several query replicas may refresh the same hour at once: each computation is complete on its
own and a read uses exactly one (the pair hour + computation time), so the only cost is the
duplicated work.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from loopline.btql import rollup
from loopline.common.logging import get_logger
from loopline.common.store import Store, StoreError

log = get_logger(__name__)

#: superseded computations are deleted this long after (a read lists hours, then runs its query)
SUPERSEDED_GRACE_S = 600
_CLEANUP_EVERY_S = 300.0


async def clean_hours(
    store: Store, org_id: str, project_id: str, quiet_s: int = rollup.QUIET_MARGIN_S
) -> tuple[rollup.CleanHour, ...]:
    _, rows = await store.query(
        rollup.clean_hours_sql(store.database), {"org": org_id, "project": project_id, "margin": quiet_s}
    )
    return rollup.hours_from_rows(rows)


async def refresh_hours(store: Store, key: rollup.ObjectKey, hours: list[int]) -> None:
    """(Re)compute some hours (µs since the epoch) of one object's logs."""
    org, project, otype, oid = key
    _, rows = await store.query("SELECT toUnixTimestamp64Micro(now64(6, 'UTC'))")
    at = int(rows[0][0])  # the store's clock: the changes view stamps with it too
    params = {"org": org, "project": project, "otype": otype, "oid": oid, "hours": hours, "at": at}
    groups, mark = rollup.refresh_sql(store.database)
    await store.command(groups, params)
    await store.command(mark, params)


async def refresh_round(store: Store, batch: int, margin_s: int = rollup.QUIET_MARGIN_S) -> int:
    """Recompute up to `batch` dirty hours (a day of one object per statement); how many were."""
    _, rows = await store.query(rollup.dirty_hours_sql(store.database), {"margin": margin_s, "n": batch})
    for key, hours in rollup.refresh_batches(rows):
        await refresh_hours(store, key, hours)
    return len(rows)


class RollupRefresher:
    """The refresh loop (a service worker: `stop` ends it)."""

    def __init__(self, store: Store, *, interval_s: float, batch: int, quiet_s: int) -> None:
        self.store = store
        self.quiet_s = quiet_s
        self.interval_s = interval_s
        self.batch = batch
        self.refreshed = 0
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="rollup-refresher")

    async def _run(self) -> None:
        last_cleanup = time.monotonic()
        while not self._stop.is_set():
            try:
                n = await refresh_round(self.store, self.batch, self.quiet_s)
                self.refreshed += n
                if time.monotonic() - last_cleanup > _CLEANUP_EVERY_S:
                    last_cleanup = time.monotonic()
                    await self.store.command(
                        rollup.cleanup_sql(self.store.database), {"grace": SUPERSEDED_GRACE_S}
                    )
                if n >= self.batch:
                    continue  # more to do: no pause
            except StoreError as exc:  # the store is away: try again next round
                log.warning("rollup refresh failed", error=str(exc))
            except Exception:  # a bug must not stop the refresher for good
                log.exception("rollup refresh failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_s)

    async def stop(self) -> None:
        self._stop.set()
        await self._task
