"""Newest first: a page of the newest rows or traces without sorting or grouping the whole object.

The logs page asks for the newest 100 traces (`summary`, sorted by `created` descending, the
default) and each next page after a cursor; a plain `spans` read sorted the same way is the SDK's
and the sandbox's. Compiled as is, ClickHouse merges (FINAL), groups and sorts every row of the
project for each page: seconds at a million rows. This module adds a second way to answer the same
query, run first (`CompiledQuery.statements`):

1. a pre-scan (no FINAL, two columns): the `created` of the newest `m` rows matching the filter
   (older than the cursor) — `n` rows, the oldest at `c0`, of how many traces (rows) — a window
   of fewer than the page's is not read (one trace of 20,000 spans fills the first windows);
2. the page read only from the rows at or after `c0`:
   - spans: the query with `created >= c0` added;
   - summary: the traces with a (matching) row at or after `c0` (the candidates) are summarised
     from all their rows: those at or after `c0`, and their older rows, found by row id (which
     follows the day in the sort key) among the stored rows older than `c0` whose trace is a
     candidate (usually none: the index on `root_span_id` finds them without a scan).

The read at or after `c0` is cheap: every version of a row shares its `created` (the writer keeps
the first), so `created >= c0` is a PREWHERE — the older rows are dropped before FINAL merges
versions — and the day of `created` in the sort key prunes older days and months. The candidates'
older rows are found through the exact (text) index on `root_span_id`.

It is the same answer as the plain query when either
- the pre-scan found fewer than `m` rows: every row that matches (and is older than the cursor)
  was at or after `c0`, so every trace of the answer is a candidate;
- or the page is full (`limit + 1` rows) and its last row is at or after `c0` (for a trace, its
  `created`, the minimum over its spans): a trace that is not a candidate has all its matching
  rows before `c0`, so its `created` is before `c0` too, and it sorts after every row of the page.
The pre-scan reads rows without FINAL, so it sees older versions and deleted rows as well: a
superset of the live rows (each live row is one of the stored rows), which keeps both arguments
true. Otherwise the next window (a larger `m`) is tried, and last the plain query.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

from loopline.btql.cursor import check_key
from loopline.btql.keyset import SortKey
from loopline.btql.plan import ScopedSource, Select, Subquery, Table, Union

#: the pre-scan's row count and the cut-off's parameters (not the generator's p0..: fixed names)
M_PARAM = "_nw_m"
C0_PARAM = "_nw_c0"
C0 = f"toDateTime64({{{C0_PARAM}:String}}, 6, 'UTC')"
#: the windows tried, as multiples of the page's rows (`limit + 1`); then the plain query
DEFAULT_WINDOWS = (8, 128)
#: a window of more rows than this is not tried (reading that many is the plain query's work)
MAX_WINDOW = 2_000_000

#: (column names, rows) as the store returns them
Result = tuple[Sequence[str], Sequence[Sequence[Any]]]
Statements = Generator[tuple[str, dict[str, Any]], Result, Result]


@dataclass(frozen=True, slots=True)
class NewestFirst:
    """The rendered pre-scan and windowed read of a query (see the module doc)."""

    prescan_sql: str
    sql: str
    windows: tuple[int, ...]  # the pre-scan's `m`, in order


def applies(src: ScopedSource, keys: list[SortKey], created: str, plain: bool) -> bool:
    """Whether a spans or summary read can be answered newest first: span rows (not dataset
    records), sorted by `created` descending only (`keys` are the query's own sort keys; none is
    the default, which is that), and `plain` (no sampling, unpivot or pivot)."""
    if not plain or not isinstance(src.from_, Table) or not src.from_.final:
        return False
    return not keys or (len(keys) == 1 and keys[0].sql == created and keys[0].dir == "desc")


def cursor_bound(gen: Any, payload: dict[str, Any] | None) -> str | None:
    """`created` of the cursor's last row (the first key of its keyset), as SQL: the rows after
    it are not newer."""
    if payload is None:
        return None
    k = payload.get("k") or []
    if not k:
        return None
    v = check_key(k[0], "datetime", False)
    return f"toDateTime64({gen.param(v, 'String')}, 6, 'UTC')"


def unmerged(src: ScopedSource) -> ScopedSource:
    """The scope's rows as stored (every version, deleted rows too): no FINAL."""
    assert isinstance(src.from_, Table)
    return ScopedSource(Table(src.from_.name), src.conds, src.embedded)


def prescan(src: ScopedSource, filt: str | None, upper: str | None, unit: str) -> Select:
    """Of the newest `m` stored rows matching `filt` (not newer than `upper`): how many there are,
    the `created` of the oldest (also as text, the windowed read's parameter), and how many
    distinct `unit`s (rows or traces: `unit` is their key's columns) they belong to."""
    where = [c for c in (filt, f"created <= {upper}" if upper else None) if c]
    newest = unmerged(src).select(
        ("created", f"cityHash64({unit}) AS _unit"),
        tuple(where),
        order_by=("created DESC",),
        limit=f"{{{M_PARAM}:UInt64}}",
    )
    return Select(
        ("count() AS _n", "min(created) AS _c0", "toString(min(created)) AS _c0s", "uniqExact(_unit) AS _u"),
        Subquery(newest),
    )


#: the exact index on `root_span_id` the look-up of candidates' older rows uses (the query
#: service's migration 302; without it the look-up reads the column)
ROOT_INDEX_DDL = (
    "ALTER TABLE {db}.spans ADD INDEX IF NOT EXISTS idx_root_span root_span_id TYPE text(tokenizer = 'array')"
)

#: the spans table's MATERIALIZED columns (`loopline.common.schema`), which `*` leaves out
MATERIALIZED = ("metadata_json", "input_preview", "output_preview")


def trace_window(src: ScopedSource, filt: str | None, upper: str | None) -> ScopedSource:
    """All rows of the candidate traces (those with a row at or after `c0` that matches `filt`;
    without a filter, one no newer than `upper`), as a source to summarise: their rows at or
    after `c0`, and their older rows by row id (two reads, each one the engine can prune)."""
    raw = unmerged(src)
    cand_where = [f"created >= {C0}"]
    if filt:
        cand_where.append(filt)
    elif upper:
        cand_where.append(f"created <= {upper}")
    cols = ("*", *MATERIALIZED)
    cand = raw.member("object_id, root_span_id", ("object_id", "root_span_id"), tuple(cand_where))
    newer = src.select(cols, (cand,), prewhere=(f"created >= {C0}",))
    # one column, so the exact index on root_span_id (query migration 302) finds the few granules
    roots = raw.member("root_span_id", ("root_span_id",), tuple(cand_where))
    older_ids = raw.member("object_id, id", ("object_id", "id"), (f"created < {C0}", roots))
    older = src.select(cols, (older_ids, cand), prewhere=(f"created < {C0}",))
    rows = Select(("*",), Union((newer, older), "_nw_u"))
    return ScopedSource(Subquery(rows, "_nw"), (), src.embedded)


def windows(limit: int, multiples: Sequence[int]) -> tuple[int, ...]:
    out: list[int] = []
    for k in multiples:
        m = k * (limit + 1)
        if m <= MAX_WINDOW and (not out or m > out[-1]):
            out.append(m)
    return tuple(out)


def statements(
    nw: NewestFirst | None, sql: str, params: dict[str, Any], limit: int, key: str = "_k0"
) -> Statements:
    """The statements that answer the query, one at a time: send each one's (column names, rows)
    back; the return value is the query's result (what `CompiledQuery.finish` reads). `key`: the
    result column holding each row's `created` (the first sort key)."""
    if nw is not None:
        for m in nw.windows:
            _, pre = yield nw.prescan_sql, {**params, M_PARAM: m}
            n, c0, c0s, units = pre[0]
            if n == m and units <= limit:
                continue  # the window holds too few traces (or rows) to fill the page: a larger one
            cols, rows = yield nw.sql, {**params, C0_PARAM: c0s}
            if n < m or (len(rows) > limit and rows[-1][list(cols).index(key)] >= c0):
                return cols, rows
    return (yield sql, params)


async def collect(steps: Statements, query: Callable[[str, dict[str, Any]], Awaitable[Result]]) -> Result:
    """Run `statements(...)` with `await query(sql, params)`: the query's (column names, rows)."""
    sql, params = next(steps)
    while True:
        result = await query(sql, params)
        try:
            sql, params = steps.send(result)
        except StopIteration as done:
            out: Result = done.value
            return out
