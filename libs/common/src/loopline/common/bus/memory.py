"""In-process bus: the same topics, keys and consumer-group semantics, inside one asyncio loop.

- A topic has N partitions; a key always maps to the same partition, so per-key order holds.
- A consumer group shares a topic's partitions among its members (round-robin, rebalanced on
  join and leave); the group's committed offset per partition is where a new owner resumes.
- A batch's offsets are committed only after the handler returned; a failing handler gets the
  same messages again, and a member that dies (`kill()`) leaves them to the next owner.
- Memory is bounded: a partition holds at most `capacity` messages (and `capacity_bytes` bytes,
  if set) not yet committed by every group; `publish` waits for room and raises BusUnavailable after its timeout (backpressure).
  Messages of a topic that no group consumes are retained up to `capacity` messages and
  `retain_bytes` bytes per partition, oldest dropped.
- A handler may take its next batch while it handles one (`take_next_batch`): the member then
  hands exactly that batch next, unless the one in hand fails or the group rebalances.
- With a journal (`journal_dir`, see journal.py) every publish is written to disk before it
  returns and commits are recorded, so after a crash (even `kill -9`) the bus comes back with
  every message some group had not committed, and groups resume at their commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Sequence
from pathlib import Path

from loopline.common.bus.base import (
    NEXT_BATCH,
    BatchHandler,
    Bus,
    BusUnavailable,
    Consumer,
    ConsumerOptions,
    Message,
    OutMessage,
    TopicSpec,
    partition_for,
)
from loopline.common.bus.journal import Journal
from loopline.common.logging import get_logger
from loopline.common.metrics import timed_publish, track_consumer, untrack_consumer

log = get_logger(__name__)


_COMPACT_BELOW = 64 * 1024


def _compact(value: bytes) -> bytes:
    """A right-sized copy of a small value. orjson.dumps keeps a 4 KiB allocation behind even a
    300-byte result (measured with tracemalloc), so the 160,000 small messages a topic may hold
    (e.g. rows.committed, which nothing consumes in-process) took ~640 MiB instead of ~60 MiB."""
    return bytes(memoryview(value)) if len(value) < _COMPACT_BELOW else value


class _Partition:
    __slots__ = ("base", "index", "log", "nbytes")

    def __init__(self, index: int) -> None:
        self.index = index
        self.log: list[Message] = []
        self.base = 0  # offset of log[0]
        self.nbytes = 0  # sum of the values in `log`

    def append(self, msg: Message) -> None:
        self.log.append(msg)
        self.nbytes += len(msg.value)

    def replace(self, base: int, msgs: list[Message]) -> None:
        self.base, self.log = base, msgs
        self.nbytes = sum(len(m.value) for m in msgs)

    @property
    def end(self) -> int:
        return self.base + len(self.log)

    def read(self, start: int, limit: int) -> list[Message]:
        i = max(start - self.base, 0)
        return self.log[i : i + limit]

    def trim_to(self, offset: int) -> None:
        n = offset - self.base
        if n > 0:
            self.nbytes -= sum(len(m.value) for m in self.log[:n])
            del self.log[:n]
            self.base = offset

    def offset_keeping(self, max_bytes: int) -> int:
        """The lowest offset from which the partition's values fit in `max_bytes`."""
        excess, off = self.nbytes - max_bytes, self.base
        for m in self.log:
            if excess <= 0:
                break
            excess -= len(m.value)
            off += 1
        return off


class _Group:
    def __init__(self, name: str, topic: _Topic) -> None:
        self.name = name
        self.topic = topic
        self.committed: dict[int, int] = {}
        self.members: list[_Member] = []
        self.generation = 0

    def position(self, p: int, from_beginning: bool) -> int:
        if p not in self.committed:
            part = self.topic.partitions[p]
            self.committed[p] = part.base if from_beginning else part.end
        return self.committed[p]

    def rebalance(self) -> None:
        self.generation += 1
        for m in self.members:
            m.assigned = []
        if self.members:
            for p in range(len(self.topic.partitions)):
                self.members[p % len(self.members)].assigned.append(p)
        for m in self.members:
            m.on_rebalance()
        self.topic.changed()


class _Topic:
    def __init__(
        self, name: str, partitions: int, capacity: int, retain_bytes: int = 0, capacity_bytes: int = 0
    ) -> None:
        self.name = name
        self.partitions = [_Partition(i) for i in range(partitions)]
        self.capacity = capacity
        self.capacity_bytes = capacity_bytes  # uncommitted bytes per partition before publish waits
        self.retain_bytes = retain_bytes  # a topic nobody consumes keeps at most this per partition
        self.groups: dict[str, _Group] = {}
        self._data = asyncio.Event()
        self._room = asyncio.Event()
        self._dropped_warned = False

    def changed(self) -> None:
        self._data.set()
        self._data = asyncio.Event()

    def room_changed(self) -> None:
        self._room.set()
        self._room = asyncio.Event()

    def floor(self, p: int) -> int:
        """Lowest offset some group still needs in partition p."""
        part = self.partitions[p]
        if not self.groups:
            floor = max(part.base, part.end - self.capacity)
            if self.retain_bytes and part.nbytes > self.retain_bytes:
                floor = max(floor, part.offset_keeping(self.retain_bytes))
            return floor
        return min(g.committed.get(p, part.base) for g in self.groups.values())

    def trim(self, p: int) -> None:
        part = self.partitions[p]
        floor = self.floor(p)
        if not self.groups and floor > part.base and not self._dropped_warned:
            self._dropped_warned = True
            log.warning("in-process topic has no consumer group; dropping oldest messages", topic=self.name)
        # Messages every group has committed are dropped at once: a row can be 20 MiB, and keeping
        # up to 255 of them per partition (to amortise `del list[:n]`) kept big rows alive long
        # after they were written (issue 10, defect 7); the delete moves at most `capacity`
        # pointers. A topic nobody consumes drops its oldest in chunks, or when over its bytes.
        if self.groups:
            due = floor > part.base
        else:
            due = floor - part.base >= 256 or floor >= part.end or 0 < self.retain_bytes < part.nbytes
        if due:
            part.trim_to(floor)

    def full(self, p: int, n: int, nbytes: int) -> bool:
        """No room for n more messages (nbytes in all) in partition p; an empty partition always
        has room, so one message bigger than the byte bound still goes through."""
        backlog = self.backlog(p)
        if backlog == 0:
            return False
        if backlog + n > self.capacity:
            return True
        # consumed topics keep only uncommitted messages (see trim), so nbytes is the backlog's
        return 0 < self.capacity_bytes < self.partitions[p].nbytes + nbytes

    def backlog(self, p: int) -> int:
        part = self.partitions[p]
        if not self.groups:
            return 0
        return part.end - min(g.committed.get(p, part.base) for g in self.groups.values())


class _Member(Consumer):
    _ids = itertools.count()

    def __init__(
        self, bus: InProcessBus, group: _Group, handler: BatchHandler, options: ConsumerOptions
    ) -> None:
        self.id = next(self._ids)
        self.bus = bus
        self.group = group
        self.handler = handler
        self.options = options
        self.assigned: list[int] = []
        self.positions: dict[int, int] = {}
        self._generation = -1
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._rebalanced = asyncio.Event()
        #: the next batch, when the handler took it (`take_next_batch`) while handling the last
        self._next: list[Message] | None = None

    def on_rebalance(self) -> None:
        self._rebalanced.set()

    def _sync_assignment(self) -> None:
        if self._generation != self.group.generation:
            self._generation = self.group.generation
            self.positions = {p: self.group.position(p, self.options.from_beginning) for p in self.assigned}
            self._rebalanced.clear()
            self._next = None  # taken from positions that no longer hold

    def _fetch(self, positions: dict[int, int]) -> list[Message]:
        topic = self.group.topic
        batch: list[Message] = []
        room = self.options.max_batch
        # rotate the starting partition so no partition starves
        order = (
            self.assigned[self.id % max(len(self.assigned), 1) :]
            + self.assigned[: self.id % max(len(self.assigned), 1)]
        )
        budget = self.options.max_batch_bytes or None
        for p in order:
            if room <= 0 or (budget is not None and budget <= 0):
                break
            msgs = topic.partitions[p].read(positions[p], room)
            if budget is not None:
                take = 0
                for m in msgs:
                    if budget <= 0 and (batch or take):
                        break
                    budget -= len(m.value)
                    take += 1
                msgs = msgs[:take]
            if msgs:
                batch.extend(msgs)
                room -= len(msgs)
        return batch

    async def _run(self) -> None:
        topic = self.group.topic
        backoff = self.options.retry_backoff_s
        while not self._stopping:
            self._sync_assignment()
            batch, self._next = self._next or self._fetch(self.positions), None
            if not batch:
                data = topic._data
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(data.wait(), timeout=max(self.options.max_wait_s, 0.05) * 4)
                continue
            if len(batch) < self.options.max_batch and self.options.max_wait_s > 0:
                # linger briefly to build fuller batches
                await asyncio.sleep(0)
            generation = self._generation
            taker = _Taker(self, batch, generation)
            token = NEXT_BATCH.set(taker)
            try:
                await self.handler(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "bus handler failed; redelivering",
                    topic=topic.name,
                    group=self.group.name,
                    error=repr(exc),
                    retry_in_s=backoff,
                )
                self._generation = -1  # reset positions to committed (and drop a taken next batch)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.options.retry_backoff_max_s)
                continue
            finally:
                NEXT_BATCH.reset(token)
                taker.done = True
            backoff = self.options.retry_backoff_s
            if generation != self.group.generation:
                continue  # partitions moved while handling: the new owner redelivers
            last: dict[int, int] = {}
            for m in batch:
                last[m.partition] = m.offset + 1
            for p, off in last.items():
                self.positions[p] = off
                if off > self.group.committed.get(p, 0):
                    self.group.committed[p] = off
            if self.bus.journal is not None and self.bus.journal.commit(
                topic.name, self.group.name, last, self.bus.floor
            ):
                self.bus.flush_commits_later()
            for p in last:
                topic.trim(p)
            topic.room_changed()

    def take_next(self, batch: list[Message], generation: int, min_messages: int) -> list[Message] | None:
        """`take_next_batch` in the handler of `batch`: the messages after it, fetched now."""
        if self._next is not None:
            return self._next
        if self._stopping or generation != self.group.generation or generation != self._generation:
            return None
        after = dict(self.positions)
        for m in batch:
            after[m.partition] = max(after[m.partition], m.offset + 1)
        nxt = self._fetch(after)
        if len(nxt) < max(min_messages, 1):
            return None
        self._next = nxt
        return nxt

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"inproc-consumer-{self.group.name}-{self.id}")

    async def stop(self) -> None:
        """Finish the batch in hand (its commit included), then leave the group."""
        self._stopping = True
        if self._task is not None:
            # wake the loop if it is idle
            self.group.topic.changed()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._leave()

    async def kill(self) -> None:
        """Die abruptly: nothing in hand is committed; the group rebalances."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._leave()

    def _leave(self) -> None:
        untrack_consumer(self)
        if self in self.group.members:
            self.group.members.remove(self)
            self.group.rebalance()

    @property
    def lag(self) -> int:
        topic = self.group.topic
        return sum(topic.partitions[p].end - self.group.committed.get(p, 0) for p in self.assigned)


class _Taker:
    """`take_next_batch` for one batch's handler; it takes nothing once that handler returned."""

    __slots__ = ("batch", "done", "generation", "member")

    def __init__(self, member: _Member, batch: list[Message], generation: int) -> None:
        self.member, self.batch, self.generation = member, batch, generation
        self.done = False

    def __call__(self, min_messages: int) -> list[Message] | None:
        if self.done:
            return None
        return self.member.take_next(self.batch, self.generation, min_messages)


class InProcessBus(Bus):
    """Bus backend for the embedded runtime and tests."""

    def __init__(
        self,
        default_partitions: int = 8,
        capacity: int = 100_000,
        *,
        journal_dir: Path | None = None,
        fsync: bool = False,
        retain_bytes: int = 64 << 20,
        capacity_bytes: int = 0,
    ) -> None:
        self.default_partitions = default_partitions
        self.capacity = capacity
        self.retain_bytes = retain_bytes
        self.capacity_bytes = capacity_bytes
        self._topics: dict[str, _Topic] = {}
        self._members: list[_Member] = []
        self._running = False
        self.journal = Journal(journal_dir, fsync=fsync) if journal_dir is not None else None
        self._recovered = False
        self._commit_flush: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        if self.journal is not None and not self._recovered:
            self._recover(self.journal)
            self._recovered = True
        self._running = True

    def _recover(self, journal: Journal) -> None:
        rec = journal.recover()
        for name in set(rec.partitions) | set(rec.messages) | set(rec.commits):
            parts = rec.partitions.get(name) or max(
                [self.default_partitions, *(p + 1 for p in rec.messages.get(name, {}))]
            )
            t = self._topic(name, parts)
            groups = rec.commits.get(name, {})
            for gname, offs in groups.items():
                g = _Group(gname, t)
                g.committed = dict(offs)
                t.groups[gname] = g
            for part in t.partitions:
                msgs = rec.messages.get(name, {}).get(part.index, [])
                floor = min((offs.get(part.index, 0) for offs in groups.values()), default=0)
                msgs = [m for m in msgs if m.offset >= floor]
                end = rec.ends.get(name, {}).get(part.index, 0)
                part.replace(msgs[0].offset if msgs else end, msgs)
                for g in t.groups.values():
                    g.committed.setdefault(part.index, part.base)

    def floor(self, topic: str, partition: int) -> int:
        """Lowest offset of a partition that must be kept (for the journal's segment cleanup)."""
        t = self._topics.get(topic)
        if t is None or partition >= len(t.partitions):
            return 0
        return t.floor(partition)

    async def stop(self) -> None:
        for m in list(self._members):
            await m.stop()
        self._members.clear()
        self._running = False
        if self._commit_flush is not None:
            self._commit_flush.cancel()
            self._commit_flush = None
        if self.journal is not None:
            self.journal.flush_commits()
            self.journal.gc(self.floor)

    def flush_commits_later(self) -> None:
        """Write the journal's waiting commits after its delay (one timer at a time)."""
        if self._commit_flush is None and self.journal is not None:
            loop = asyncio.get_running_loop()
            self._commit_flush = loop.call_later(self.journal.commit_delay_s, self._flush_commits)

    def _flush_commits(self) -> None:
        self._commit_flush = None
        if self.journal is not None:
            self.journal.flush_commits()

    def _topic(self, name: str, partitions: int | None = None) -> _Topic:
        t = self._topics.get(name)
        if t is None:
            t = _Topic(
                name,
                partitions or self.default_partitions,
                self.capacity,
                self.retain_bytes,
                self.capacity_bytes,
            )
            self._topics[name] = t
            if self.journal is not None:
                self.journal.topic_created(name, len(t.partitions))
        return t

    async def ensure_topics(self, topics: Sequence[TopicSpec]) -> None:
        for spec in topics:
            self._topic(spec.name, spec.partitions)

    async def publish(self, topic: str, messages: Sequence[OutMessage], timeout_s: float = 10.0) -> None:
        with timed_publish(topic):
            await self._publish(topic, messages, timeout_s)

    async def _publish(self, topic: str, messages: Sequence[OutMessage], timeout_s: float) -> None:
        if not self._running:
            raise BusUnavailable("bus is not running")
        t = self._topic(topic)
        n = len(t.partitions)
        deadline = time.monotonic() + timeout_s
        now_ms = int(time.time() * 1000)
        by_part: dict[int, list[OutMessage]] = {}
        for m in messages:
            by_part.setdefault(partition_for(m.key, n), []).append(m)
        # wait for room in every partition first, so a publish is all-or-nothing
        new_bytes = {p: sum(len(m.value) for m in ms) for p, ms in by_part.items()}
        while any(t.full(p, len(ms), new_bytes[p]) for p, ms in by_part.items()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BusUnavailable(f"topic {topic} is full (consumers are behind); retry later")
            room = t._room
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(room.wait(), timeout=min(remaining, 0.5))
        added: list[Message] = []
        for p, ms in by_part.items():
            off = t.partitions[p].end
            added.extend(
                Message(topic, p, off + i, m.key, _compact(m.value), m.headers, now_ms)
                for i, m in enumerate(ms)
            )
        if self.journal is not None:
            try:
                self.journal.append(added)  # on disk (page cache) before anything sees or acks it
            except OSError as exc:
                raise BusUnavailable(f"could not write the bus journal: {exc}") from exc
        for msg in added:
            t.partitions[msg.partition].append(msg)
        if not t.groups:
            for p in by_part:
                t.trim(p)
        t.changed()

    async def subscribe(
        self, topic: str, group: str, handler: BatchHandler, options: ConsumerOptions | None = None
    ) -> Consumer:
        t = self._topic(topic)
        g = t.groups.get(group)
        if g is None:
            g = _Group(group, t)
            t.groups[group] = g
        member = _Member(self, g, handler, options or ConsumerOptions())
        track_consumer(member, topic, group)
        g.members.append(member)
        self._members.append(member)
        g.rebalance()
        member.start()
        return member

    async def healthy(self) -> bool:
        return self._running

    async def end_offsets(self, topic: str) -> dict[int, int]:
        return {p.index: p.end for p in self._topic(topic).partitions}

    async def committed_offsets(self, topic: str, group: str) -> dict[int, int]:
        g = self._topic(topic).groups.get(group)
        return dict(g.committed) if g is not None else {}
