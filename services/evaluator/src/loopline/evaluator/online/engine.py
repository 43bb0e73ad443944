"""Online scoring: committed project logs → active rules → scorer runs → scores on the spans.

`consume` is the consumer step of `loopline.rows.committed` (one bus batch): per project with
active rules, each rule samples traces by root span id (sampling.py), then
- span scope: the batch's spans that ended, are not scorer spans, match the rule's root/span-name
  choice and its BTQL filter (compiled as it was validated) become work items, due now;
- trace scope: the trace becomes (or stays) a pending item, due once it has been quiet for
  `idle_seconds` after its latest commit.
Items are persisted before the batch's offsets are committed (work.py), and a target with a final
row is never taken again: redelivery and restarts do not rescore. Pending items are leased to the
engine that wrote them (work.py): it renews the lease while it holds them and releases them when it
stops; another engine over the same store takes an item only once its lease has expired, through a
claim that exactly one engine wins. So several evaluator processes never score one target twice.

The scheduler (`run`) takes due items, at most `concurrency` at once. A trace is scored only when
its root span has `metrics.end` and it has been quiet for `idle_seconds`; otherwise it waits (a
partial trace is never scored). Each scorer runs through the `ScoreFn` seam; a provider failure
that may pass (429/5xx/timeout) is retried with backoff (honouring Retry-After) up to
`max_attempts`, then recorded as a scorer error (on the scorer span and the item) with the reason.
Scores are written back as merge rows on the scored span (`scores.<name>`) plus one scorer span
per scorer (type score, purpose scorer) unless the rule skips logging, on `loopline.rows`, with ids
derived from (rule, target, scorer) so a repeated write is the same write. A rule whose scorer
cost today reached its `daily_spend_cap_usd` skips (counted, visible in its status) until the
UTC day ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import OrderedDict, defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loopline.common.auth import Principal
from loopline.common.bus import Bus, ConsumerOptions, Message, OutMessage
from loopline.common.logging import get_logger
from loopline.common.messages import committed
from loopline.common.messages import rows as rows_topic
from loopline.common.messages.committed import RowsCommitted
from loopline.common.messages.contract import MessageDecodeError
from loopline.common.messages.rows import RowWrite
from loopline.common.pipeline import Batch, Invalid, Pipeline, run_task
from loopline.common.xact import XactIdGenerator
from loopline.evaluator.online import sampling
from loopline.evaluator.online.config import OnlineConfig, ScorerRef
from loopline.evaluator.online.filters import group_root_ids, matching_ids
from loopline.evaluator.online.rules import ProjectScore, RuleStore
from loopline.evaluator.online.scorers import ScoreFn, ScorerArgs, ScorerOutcome
from loopline.evaluator.online.settings import OnlineScoringSettings
from loopline.evaluator.online.spans import SpanRows, field_value, is_ended, is_scorer_span
from loopline.evaluator.online.work import PENDING, WorkItem, WorkLog

log = get_logger(__name__)
GROUP = "evaluator-online"
PROJECT_LOGS = "project_logs"
# large batches: a batch costs a few store round trips whatever its size
OPTIONS = ConsumerOptions(max_batch=5000, max_wait_s=0.05)
_SPAN_NS = uuid.UUID("5d0b6a0e-52c4-4c39-9a43-6f2d1c0e7a11")
_FINISHED_CAP = 200_000
_LAG_SAMPLES = 2000
PAUSED_RECHECK_S = 5.0
_Key = tuple[str, str, str]


def scorer_span_id(rule_id: str, target_id: str, scorer_key: str) -> str:
    """The scorer span's id: the same (rule, target, scorer) always writes the same row."""
    return str(uuid.uuid5(_SPAN_NS, f"{rule_id}/{target_id}/{scorer_key}"))


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _wants(cfg: OnlineConfig, row: Mapping[str, Any]) -> bool:
    """Span scope: root spans and/or spans of the named kinds; neither given: every span."""
    if not cfg.apply_to_root_span and not cfg.apply_to_span_names:
        return True
    if cfg.apply_to_root_span and row.get("is_root"):
        return True
    attrs = row.get("span_attributes")
    name = attrs.get("name") if isinstance(attrs, Mapping) else None
    return name in cfg.apply_to_span_names


@dataclass
class Decoded:
    msg: RowsCommitted
    at: float  # unix s the writer committed (the message's timestamp)


class OnlineEngine:
    def __init__(
        self,
        rules: RuleStore,
        work: WorkLog,
        spans: SpanRows,
        bus: Bus,
        xact: XactIdGenerator,
        score_fn: ScoreFn,
        settings: OnlineScoringSettings,
    ) -> None:
        self.rules = rules
        self.work = work
        self.spans = spans
        self.bus = bus
        self.xact = xact
        self.score_fn = score_fn
        self.settings = settings
        self.pending: dict[_Key, WorkItem] = {}
        self.running: dict[_Key, asyncio.Task[None]] = {}
        self.finished: OrderedDict[_Key, None] = OrderedDict()
        self._skipped_roots: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.lags: dict[tuple[str, str], deque[float]] = defaultdict(lambda: deque(maxlen=_LAG_SAMPLES))
        self._loop: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # written by the scheduler loop in batches: the score rows first, then the items' new states
        # (so an item is never recorded final before its scores were published)
        self._out: list[OutMessage] = []
        self._saves: list[WorkItem] = []
        self.consumer_lag: Any = None  # () -> int: messages not yet consumed (set by the service)
        # (org id, backfill job id) -> the job was cancelled (set by backfill.py)
        self.cancelled: Callable[[str, str], Awaitable[bool]] | None = None

    def wake(self) -> None:
        """New due work: the scheduler looks at once."""
        self._wake.set()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._run_loop(), name="online-scoring")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        tasks = list(self.running.values())
        for t in tasks:  # their items stay pending in the store: the next start takes them again
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.flush_outputs()
        with contextlib.suppress(Exception):  # released: another engine takes them at once
            await self.work.save(list(self.pending.values()), release=True)
        with contextlib.suppress(Exception):
            await self.work.flush()

    async def keep_leases(self) -> int:
        """Renew the leases of held items that are half way to expiring, and take pending items
        whose lease expired (a stopped or dead engine's). Returns how many were taken."""
        soon = time.time() + self.work.lease_s / 2
        renew = [i for i in self.pending.values() if i.lease_until < soon]
        if renew:
            await self.work.save(renew)
        taken = await self.work.claim(exclude=self.pending.keys())
        for item in taken:
            if item.key not in self.pending and not self._done(item.key):
                self.pending[item.key] = item
        if taken:
            log.info("online_scoring_claimed", items=len(taken), owner=self.work.owner)
            self._wake.set()
        return len(taken)

    async def _lease_loop(self) -> None:
        while True:
            try:
                await self.keep_leases()
            except Exception as exc:  # the store: tried again next round (held leases still good)
                log.warning("online_scoring_lease_failed", error=str(exc))
            await asyncio.sleep(max(0.05, self.work.lease_s / 3))

    # -- consuming -----------------------------------------------------------------------------

    def _done(self, key: _Key) -> bool:
        return key in self.finished

    def _mark_finished(self, key: _Key) -> None:
        self.finished[key] = None
        if len(self.finished) > _FINISHED_CAP:
            self.finished.popitem(last=False)

    def _skip_sampled(self, org_id: str, rule_id: str, root: str, n: int) -> None:
        k = (rule_id, root)
        if k in self._skipped_roots:
            return
        self._skipped_roots[k] = None
        if len(self._skipped_roots) > _FINISHED_CAP:
            self._skipped_roots.popitem(last=False)
        self.work.count(org_id, rule_id, "skipped_sampling", n)

    async def consume(self, batch: Batch[list[Message]]) -> int:
        """The pipeline step: one bus batch of `loopline.rows.committed` → work items (persisted)."""
        groups: dict[tuple[str, str, str, str], list[Decoded]] = defaultdict(list)
        now = time.time()
        for m in batch.value:
            try:
                c = committed.CONTRACT.read(m)
            except MessageDecodeError as exc:
                batch.reject(m, str(exc))
                continue
            if c.object_type == PROJECT_LOGS:
                at = m.timestamp_ms / 1000 if m.timestamp_ms else now
                groups[(c.org_id, c.project_id, c.object_type, c.object_id)].append(Decoded(c, min(at, now)))
        added: list[WorkItem] = []
        for (org_id, project_id, otype, oid), msgs in groups.items():
            rules = await self.rules.active_rules(org_id, project_id)
            span_rules: list[tuple[ProjectScore, OnlineConfig, list[Decoded]]] = []
            for rule in rules:
                cfg = rule.online
                assert cfg is not None
                if cfg.scope == "group":  # sampled by group, not by trace
                    added += await self._groups(rule, cfg, msgs, otype, oid)
                    continue
                chosen = []
                for d in msgs:
                    if sampling.sampled(d.msg.root_span_id, cfg.sampling_rate):
                        chosen.append(d)
                    else:
                        n = len(d.msg.ids) if cfg.scope == "span" else 1
                        self._skip_sampled(org_id, rule.id, d.msg.root_span_id, n)
                if not chosen:
                    continue
                if cfg.scope == "trace":
                    added += await self._traces(rule, cfg, chosen, otype, oid)
                else:
                    span_rules.append((rule, cfg, chosen))
            if not span_rules:
                continue
            # the chosen traces' spans (read once for every span-scope rule of the project) and
            # what each rule already did with them, in one round of concurrent reads
            ids = {r.id: list(dict.fromkeys(i for d in ch for i in d.msg.ids)) for r, _, ch in span_rules}
            everything = list(dict.fromkeys(i for chosen_ids in ids.values() for i in chosen_ids))
            rows, *knowns = await asyncio.gather(
                self.spans.by_id(org_id, project_id, otype, oid, everything),
                *(self.work.existing(org_id, r.id, self._unseen(r, ids[r.id])) for r, _, _ in span_rules),
            )
            for (rule, cfg, chosen), known in zip(span_rules, knowns, strict=True):
                added += await self._spans(rule, cfg, chosen, rows, known, otype, oid)
        if added:
            await self.work.save(added)
            for item in added:
                self.pending[item.key] = item
            self._wake.set()
        return len(added)

    async def _spans(
        self,
        rule: ProjectScore,
        cfg: OnlineConfig,
        chosen: Sequence[Decoded],
        rows: Mapping[str, dict[str, Any]],
        known: Mapping[str, WorkItem],
        otype: str,
        oid: str,
    ) -> list[WorkItem]:
        at: dict[str, float] = {}
        for d in chosen:
            for i in d.msg.ids:
                at[i] = max(at.get(i, 0.0), d.at)
        cands = []
        for i in at:
            row = rows.get(i)
            key = (rule.org_id, rule.id, i)
            if row is None or key in self.pending or self._done(key):
                continue
            if is_scorer_span(row) or not is_ended(row) or not _wants(cfg, row):
                continue
            cands.append(i)
        if not cands:
            return []
        fresh = []
        for i in cands:
            k = known.get(i)
            if k is None:
                fresh.append(i)
            elif k.state != PENDING:  # scored before (a redelivery, a restart): never again
                self._mark_finished(k.key)
        cands = fresh
        if cfg.btql_filter and cands:
            keep = await matching_ids(self.spans.store, rule.org_id, rule.project_id, cfg.btql_filter, cands)
            self.work.count(rule.org_id, rule.id, "skipped_filter", len(cands) - len(keep))
            cands = [i for i in cands if i in keep]
        out = []
        for i in cands:
            row = rows[i]
            made = WorkItem(
                rule.org_id,
                rule.project_id,
                otype,
                oid,
                rule.id,
                i,
                str(row.get("root_span_id") or i),
                "span",
                committed_at=at[i],
                due_at=0.0,
            )
            made.span_row = row  # the committed, ended span: scored as it is (not read again)
            out.append(made)
        return out

    def _unseen(self, rule: ProjectScore, ids: Sequence[str]) -> list[str]:
        """The ids this process has no state of for the rule (only those need the store)."""
        return [
            i
            for i in ids
            if (rule.org_id, rule.id, i) not in self.pending and not self._done((rule.org_id, rule.id, i))
        ]

    async def _traces(
        self, rule: ProjectScore, cfg: OnlineConfig, chosen: Sequence[Decoded], otype: str, oid: str
    ) -> list[WorkItem]:
        last: dict[str, tuple[float, str]] = {}
        for d in chosen:
            root = d.msg.root_span_id
            last[root] = (max(last.get(root, (0.0, root))[0], d.at), root)
        return await self._quiet_items(rule, cfg, last, otype, oid, "trace")

    async def _quiet_items(
        self,
        rule: ProjectScore,
        cfg: OnlineConfig,
        last: Mapping[str, tuple[float, str]],
        otype: str,
        oid: str,
        scope: str,
    ) -> list[WorkItem]:
        """Trace and group scope: each target (a trace, a group) becomes or stays pending, due
        `idle_seconds` after its latest commit; `last`: target -> (latest commit, a root span id)."""
        changed: list[WorkItem] = []
        unknown = []
        for target, (at, _) in last.items():
            key = (rule.org_id, rule.id, target)
            if self._done(key):
                continue
            item = self.pending.get(key)
            if item is None:
                unknown.append(target)
            elif at > item.committed_at:
                item.committed_at = at
                item.due_at = max(item.due_at, at + cfg.idle_seconds)
                changed.append(item)
        known = await self.work.existing(rule.org_id, rule.id, unknown)
        for target in unknown:
            at, root = last[target]
            item = known.get(target)
            if item is not None and item.state != PENDING:
                self._mark_finished(item.key)
                continue
            if item is not None:  # pending, held by another engine (or to be claimed once expired)
                continue
            item = WorkItem(rule.org_id, rule.project_id, otype, oid, rule.id, target, root, scope, at, 0.0)
            item.due_at = item.committed_at + cfg.idle_seconds
            changed.append(item)
        return changed

    async def _groups(
        self, rule: ProjectScore, cfg: OnlineConfig, msgs: Sequence[Decoded], otype: str, oid: str
    ) -> list[WorkItem]:
        """Group scope: each announced trace's root span names its group (`group_by`); the group
        becomes (or stays) a pending item, due once no trace of it was committed for idle_seconds."""
        assert cfg.group is not None
        roots = await self.spans.roots(
            rule.org_id, rule.project_id, otype, oid, list({d.msg.root_span_id for d in msgs})
        )
        last: dict[str, tuple[float, str]] = {}
        for d in msgs:
            row = roots.get(d.msg.root_span_id)
            value = field_value(row, cfg.group.group_by) if row is not None else None
            if value is None or isinstance(value, dict | list):
                continue  # not in a group (or its root span is not logged yet: a later announcement)
            target = f"group:{value}"
            if not sampling.sampled(target, cfg.sampling_rate):
                self._skip_sampled(rule.org_id, rule.id, target, 1)
                continue
            at, first = last.get(target, (0.0, d.msg.root_span_id))
            last[target] = (max(at, d.at), first)
        return await self._quiet_items(rule, cfg, {t: v for t, v in last.items()}, otype, oid, "group")

    # -- scheduling ----------------------------------------------------------------------------

    async def _run_loop(self) -> None:
        helpers = [
            asyncio.create_task(self._write_loop(), name="online-scoring-writes"),
            asyncio.create_task(self._lease_loop(), name="online-scoring-leases"),
        ]
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.tick_s)
                self._wake.clear()
                self.dispatch()
        finally:
            for h in helpers:
                h.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _write_loop(self) -> None:
        """Once a tick: the score rows and item states of that tick (one write each, not one per
        item); the counters every `flush_s`. Runs beside dispatching, so a slow write never holds
        scoring back."""
        last_flush = time.monotonic()
        while True:
            await asyncio.sleep(self.settings.tick_s)
            try:
                await self.flush_outputs()
            except Exception as exc:  # the bus or the store: kept, written at the next tick
                log.warning("online_scoring_write_failed", error=str(exc))
            if time.monotonic() - last_flush >= self.settings.flush_s:
                last_flush = time.monotonic()
                try:
                    await self.work.flush()
                except Exception as exc:
                    log.warning("online_counters_flush_failed", error=str(exc))

    async def flush_outputs(self) -> None:
        """Publish the buffered score rows, then save the buffered item states (in that order)."""
        if self._out:
            out, self._out = self._out, []
            try:
                await self.bus.publish(rows_topic.TOPIC, out)
            except Exception:
                self._out = out + self._out
                raise
        if self._saves:
            saves, self._saves = self._saves, []
            try:
                await self.work.save(saves)
            except Exception:
                self._saves = saves + self._saves
                raise

    def dispatch(self) -> int:
        """Start the due items (as many as `concurrency` allows); returns how many started."""
        now = time.time()
        room = self.settings.concurrency - len(self.running)
        started = 0
        if room <= 0:
            return 0
        for key, item in list(self.pending.items()):
            if key in self.running or item.due_at > now:
                continue
            self.running[key] = asyncio.create_task(self._guarded(item))
            started += 1
            if started >= room:
                break
        return started

    async def _guarded(self, item: WorkItem) -> None:
        try:
            await self.process(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store or the bus: the item stays pending and is tried again
            item.due_at = time.time() + self._backoff(item.attempts + 1)
            log.warning(
                "online_scoring_item_failed", rule_id=item.rule_id, target=item.target_id, error=str(exc)
            )
        finally:
            self.running.pop(item.key, None)
            self._wake.set()

    def _backoff(self, attempt: int, retry_after: float | None = None) -> float:
        base = min(self.settings.retry_max_s, self.settings.retry_base_s * 2 ** max(0, attempt - 1))
        delay = random.uniform(base / 2, base)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.settings.retry_max_s))
        return delay

    async def finish(self, item: WorkItem, state: str, reason: str = "", counter: str | None = None) -> None:
        item.state = state
        item.error = reason
        self._saves.append(item)
        if counter:
            self.work.count(item.org_id, item.rule_id, counter)
        self.pending.pop(item.key, None)
        self._mark_finished(item.key)

    async def process(self, item: WorkItem) -> None:
        """Score one due item (or put it back to wait)."""
        if not self.work.held(item):
            # the lease lapsed (the store was out of reach for `lease_s`): another engine may have
            # taken the item; this one lets go of it rather than risk scoring it twice
            self.pending.pop(item.key, None)
            log.warning("online_scoring_lease_lost", rule_id=item.rule_id, target=item.target_id)
            return
        if item.source and self.cancelled is not None and await self.cancelled(item.org_id, item.source):
            await self.finish(item, "skipped", "the backfill was cancelled")
            return
        rule = await self.rules.cached_rule(item.org_id, item.rule_id)
        if rule is None or rule.online is None:
            await self.finish(item, "skipped", "the rule was deleted or is no longer an online rule")
            return
        cfg = rule.online
        now = time.time()
        if not cfg.active:
            item.due_at = now + PAUSED_RECHECK_S
            return
        group_rows: list[dict[str, Any]] | None = None
        row: dict[str, Any] | None
        if item.scope == "group":
            quiet_at = item.committed_at + cfg.idle_seconds
            if now < quiet_at:
                item.due_at = quiet_at
                return
            found_group = await self._group_rows(item, cfg)
            if found_group is None:
                item.due_at = now + max(1.0, min(cfg.idle_seconds, 10.0))  # a trace has not ended
                return
            if not found_group:
                await self.finish(
                    item, "skipped", "no trace of the group matches the filter", "skipped_filter"
                )
                return
            group_rows, row, eligible_at = found_group, found_group[0], quiet_at
        elif item.scope == "trace":
            quiet_at = item.committed_at + cfg.idle_seconds
            if now < quiet_at:
                item.due_at = quiet_at
                return
            row = await self.spans.root(
                item.org_id, item.project_id, item.object_type, item.object_id, item.root_span_id
            )
            metrics = row.get("metrics") if row else None
            if row is None or not isinstance(metrics, Mapping) or metrics.get("end") is None:
                # not complete: the root span has not ended; wait for more of the trace
                item.due_at = now + max(1.0, min(cfg.idle_seconds, 10.0))
                return
            if cfg.btql_filter and not await matching_ids(
                self.spans.store, item.org_id, item.project_id, cfg.btql_filter, [str(row["id"])]
            ):
                await self.finish(
                    item, "skipped", "the trace's root span does not match the filter", "skipped_filter"
                )
                return
            eligible_at = quiet_at
        else:
            found = await self.spans.by_id(
                item.org_id, item.project_id, item.object_type, item.object_id, [item.target_id]
            )
            row = found.get(item.target_id)
            if row is None:
                await self.finish(item, "skipped", "the span was deleted before it was scored")
                return
            eligible_at = item.committed_at
        cap = cfg.daily_spend_cap_usd
        if cap is not None and await self.work.spent_today(item.org_id, item.rule_id) >= cap:
            await self.finish(
                item,
                "skipped",
                f"the rule's daily spend cap (${cap:g}) is reached for today",
                "skipped_budget",
            )
            return
        await self._score(rule, cfg, item, row, eligible_at, group_rows)

    async def _group_rows(self, item: WorkItem, cfg: OnlineConfig) -> list[dict[str, Any]] | None:
        """The group's root spans (oldest first, at most max_traces) that pass the filter; None
        while one of them has not ended."""
        assert cfg.group is not None
        value = item.target_id.removeprefix("group:")
        ids = await group_root_ids(
            self.spans.store, item.org_id, item.project_id, cfg.group.group_by, value, cfg.group.max_traces
        )
        found = await self.spans.by_id(item.org_id, item.project_id, item.object_type, item.object_id, ids)
        rows = [found[i] for i in ids if i in found]
        for r in rows:
            metrics = r.get("metrics")
            if not isinstance(metrics, Mapping) or metrics.get("end") is None:
                return None
        if cfg.btql_filter and rows:
            keep = await matching_ids(
                self.spans.store, item.org_id, item.project_id, cfg.btql_filter, [str(r["id"]) for r in rows]
            )
            rows = [r for r in rows if str(r["id"]) in keep]
        return rows

    async def _score(
        self,
        rule: ProjectScore,
        cfg: OnlineConfig,
        item: WorkItem,
        row: Mapping[str, Any],
        eligible_at: float,
        group_rows: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        args = (
            _group_args(item, cfg, group_rows)
            if group_rows
            else ScorerArgs(
                input=row.get("input"),
                output=row.get("output"),
                expected=row.get("expected"),
                metadata=row.get("metadata") if isinstance(row.get("metadata"), dict) else None,
                trace={
                    "object_type": item.object_type,
                    "object_id": item.project_id,
                    "root_span_id": item.root_span_id,
                },
            )
        )
        principal = Principal(org_id=item.org_id, user_id="", role="member")
        todo = [s for s in cfg.scorers if item.results.get(s.key, {}).get("state") not in ("done", "error")]
        started = time.time()
        outcomes = await asyncio.gather(*(self.run_scorer(principal, s, args) for s in todo))
        ended = time.time()
        retry: list[ScorerOutcome] = []
        finished: list[tuple[ScorerRef, ScorerOutcome]] = []
        for s, o in zip(todo, outcomes, strict=True):
            if o.error and o.retryable and item.attempts + 1 < self.settings.max_attempts:
                retry.append(o)
                continue
            finished.append((s, o))
            item.results[s.key] = {
                "state": "error" if o.error else "done",
                "error": o.error,
                "scores": {v.name: v.score for v in o.scores},
            }
            item.cost += o.cost_usd
            self.work.count(item.org_id, item.rule_id, "cost_usd", o.cost_usd)
        if finished:
            on = group_rows if group_rows and cfg.group and cfg.group.placement == "each" else [row]
            await self._write_back(rule, cfg, item, row, finished, started, ended, on)
        if retry:
            item.attempts += 1
            ra = max((o.retry_after_s or 0.0 for o in retry), default=0.0) or None
            item.due_at = time.time() + self._backoff(item.attempts, ra)
            self.work.count(item.org_id, item.rule_id, "retries", len(retry))
            self._saves.append(item)
            log.info(
                "online_scoring_retry",
                rule_id=item.rule_id,
                target=item.target_id,
                attempt=item.attempts,
                error=retry[0].error,
            )
            return
        errors = [f"{k}: {r['error']}" for k, r in item.results.items() if r.get("error")]
        scored = any(r.get("state") == "done" for r in item.results.values())
        if scored:
            self.work.count(item.org_id, item.rule_id, "scored")
        await self.finish(
            item, "error" if errors else "done", "; ".join(errors)[:4000], "errors" if errors else None
        )
        self.lags[(item.org_id, item.rule_id)].append(max(0.0, time.time() - eligible_at))

    async def run_scorer(self, principal: Principal, scorer: ScorerRef, args: ScorerArgs) -> ScorerOutcome:
        """One scorer on one target, within `scorer_timeout_s` (a timeout is a retryable error)."""
        try:
            return await asyncio.wait_for(
                self.score_fn(principal, scorer, args), self.settings.scorer_timeout_s
            )
        except TimeoutError:
            return ScorerOutcome(
                error=f"scorer {scorer.key} took longer than {self.settings.scorer_timeout_s:g} s",
                retryable=True,
            )

    async def _write_back(
        self,
        rule: ProjectScore,
        cfg: OnlineConfig,
        item: WorkItem,
        row: Mapping[str, Any],
        finished: Sequence[tuple[ScorerRef, ScorerOutcome]],
        started: float,
        ended: float,
        scored_rows: Sequence[Mapping[str, Any]],
    ) -> None:
        scores: dict[str, float | None] = {}
        writes: list[dict[str, Any]] = []
        for s, o in finished:
            for v in o.scores:
                scores[v.name] = v.score
            if cfg.skip_logging and not o.error:
                continue  # errors are always recorded on a scorer span: never dropped silently
            sid = scorer_span_id(rule.id, item.target_id, s.key)
            name = s.name if s.type == "global" else (o.scores[0].name if o.scores else s.key)
            span: dict[str, Any] = {
                "id": sid,
                "span_id": sid,
                "root_span_id": item.root_span_id,
                "span_parents": [str(row.get("span_id") or row["id"])],
                "created": _iso(started),
                "span_attributes": {"name": name, "type": "score", "purpose": "scorer"},
                "input": {
                    "input": row.get("input"),
                    "output": row.get("output"),
                    "expected": row.get("expected"),
                },
                "output": {v.name: v.score for v in o.scores} or None,
                "scores": {v.name: v.score for v in o.scores} or None,
                "metadata": {
                    "online_rule": {"id": rule.id, "name": rule.body.name},
                    "scorer": s.public(),
                    "scored_span_id": row.get("id"),
                    **(
                        {"score_metadata": {v.name: v.metadata for v in o.scores if v.metadata}}
                        if o.scores
                        else {}
                    ),
                },
                "metrics": {
                    "start": started,
                    "end": ended,
                    **o.usage,
                    **({"estimated_cost": o.cost_usd} if o.cost_usd else {}),
                },
            }
            if o.error:
                span["error"] = o.error
            writes.append(span)
        if scores:  # on the scored span (group scope: the group's first root span, or each)
            writes += [{"id": str(r["id"]), "_is_merge": True, "scores": scores} for r in scored_rows]
        if writes:
            out = [
                rows_topic.CONTRACT.out(
                    RowWrite(
                        item.org_id, item.project_id, item.object_type, item.object_id, self.xact.next(), w
                    )
                )
                for w in writes
            ]
            await self.bus.publish(rows_topic.TOPIC, out)

    # -- status --------------------------------------------------------------------------------

    async def status(self, rule: ProjectScore) -> dict[str, Any]:
        total, day = await self.work.counters(rule.org_id, rule.id)
        pending, oldest_due = await self.work.oldest_pending(rule.org_id, rule.id)
        now = time.time()
        lags = sorted(self.lags.get((rule.org_id, rule.id), ()))
        cfg = rule.online
        cap = cfg.daily_spend_cap_usd if cfg else None
        spent = day.get("cost_usd", 0.0)
        if cfg is None:
            state = "not_online"
        elif not cfg.active:
            state = "paused"
        elif cap is not None and spent >= cap:
            state = "budget_exhausted"
        else:
            state = "active"
        tomorrow = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp() + 86400
        return {
            "id": rule.id,
            "project_id": rule.project_id,
            "state": state,
            "budget_resets_at": _iso(tomorrow) if state == "budget_exhausted" else None,
            "pending": pending,
            "lag_seconds": max(0.0, now - oldest_due)
            if oldest_due is not None and oldest_due <= now
            else 0.0,
            "recent_lag_seconds": {
                "samples": len(lags),
                "p50": lags[len(lags) // 2] if lags else None,
                "p95": lags[min(len(lags) - 1, int(len(lags) * 0.95))] if lags else None,
            },
            "consumer_lag_messages": self.consumer_lag() if callable(self.consumer_lag) else None,
            "counters": {k: total.get(k, 0.0) for k in total},
            "today": {k: day.get(k, 0.0) for k in day},
            "spend_today_usd": spent,
            "daily_spend_cap_usd": cap,
            "recent_errors": await self.work.recent_errors(rule.org_id, rule.id),
        }


def _group_args(item: WorkItem, cfg: OnlineConfig, rows: Sequence[Mapping[str, Any]]) -> ScorerArgs:
    """What a scorer gets for a group: its traces' root inputs, outputs and expected values as
    lists, oldest first, with the group in the metadata and the traces' root span ids."""
    assert cfg.group is not None
    return ScorerArgs(
        input=[r.get("input") for r in rows],
        output=[r.get("output") for r in rows],
        expected=[r.get("expected") for r in rows],
        metadata={
            "group_by": ".".join(cfg.group.group_by),
            "group": item.target_id.removeprefix("group:"),
            "traces": len(rows),
        },
        trace={
            "object_type": item.object_type,
            "object_id": item.project_id,
            "root_span_id": str(rows[0].get("root_span_id")),
            "root_span_ids": [str(r.get("root_span_id")) for r in rows],
        },
    )


async def _log_dead_letters(invalid: Sequence[Invalid]) -> None:
    for d in invalid:
        log.warning("online_scoring_dead_letter", reason=d.reason, key=d.message.key.decode(errors="replace"))


def build_pipeline(engine: OnlineEngine) -> Pipeline[list[Message]]:
    return Pipeline("online-scoring", [run_task("online", engine.consume)], dead_letters=_log_dead_letters)
