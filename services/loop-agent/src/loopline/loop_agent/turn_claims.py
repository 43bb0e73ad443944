"""One running turn per conversation, across every loop-agent process over one store (owner of
`loop_turns`).

The store has no row locks, so a turn claims its conversation the way online scoring claims
expired work (evaluator `online/work.py`): the claim is a row (the conversation, a claim id, the
process, `lease_until`), written, then read back after `settle_s` (every concurrent claim is
visible by then). A claim is *live* while its lease is ahead and it is not released, and it wins
only if it is its conversation's one live claim:

- a turn asked for while another runs sees that turn's claim before writing one: refused at once;
- of claims made at the same moment, each sees the other on reading back and none wins (both
  callers get the 409 and may retry); a loser releases its claim at once;
- a claim that saw none before writing but another one after has lost too, so two claims can
  never both win, whatever the order of their writes and reads and whatever the clocks say about
  their versions: each winner read back a state with no other live claim after its own claim was
  visible, and a second winner would have had to miss the first's visible claim.

`settle_s` only has to cover how long a write takes to become visible to every reader: 0 on one
ClickHouse server or the embedded store (an insert is visible once it returns), longer on a
replicated cluster (reads may go to a replica that has not caught up).

The winner renews its lease every third of `lease_s` while the turn runs and releases it when
the turn's writes have landed. A process that dies mid-turn (kill -9) blocks its conversation
until its lease expires: `lease_s` after its last renewal at most. A turn whose lease could not be
renewed in time (the store was unreachable) stops before its next write (`Held.check`): another
process may hold the conversation by then.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from loopline.common.errors import Conflict
from loopline.common.logging import get_logger
from loopline.common.store import Store

log = get_logger(__name__)

COLUMNS = ("org_id", "conversation_id", "claim_id", "owner", "lease_until", "released", "updated", "_version")
BUSY = "a turn of this conversation is running: retry after it ends (its stream's 'done' event)"


class TurnRunning(Conflict):
    """Another turn of the conversation is running, here or in another process (HTTP 409)."""

    retry_after = 1.0

    def __init__(self) -> None:
        super().__init__(BUSY)


class TurnLost(Exception):
    """The running turn's lease ran out before it could be renewed: it stops before writing."""


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class TurnClaims:
    def __init__(self, store: Store, *, lease_s: float, settle_s: float, owner: str | None = None) -> None:
        self.store = store
        self.lease_s = lease_s
        self.settle_s = settle_s
        self.owner = owner or f"loop-{uuid.uuid4().hex[:12]}"

    async def live(self, org_id: str, conversation_id: str) -> list[str]:
        """The conversation's live claims (their ids): unreleased, lease ahead."""
        _, rows = await self.store.query(
            self.store.sql(
                "SELECT claim_id FROM {db}.loop_turns FINAL WHERE org_id = {o:String} "
                "AND conversation_id = {c:String} AND released = 0 "
                "AND lease_until > {now:DateTime64(6, 'UTC')}"
            ),
            {"o": org_id, "c": conversation_id, "now": _dt(time.time())},
        )
        return [str(r[0]) for r in rows]

    async def write(self, held: Held, until: float, *, released: bool = False) -> None:
        row = [
            held.org_id,
            held.conversation_id,
            held.claim_id,
            self.owner,
            _dt(until),
            int(released),
            _dt(time.time()),
            time.time_ns(),
        ]
        await self.store.insert("loop_turns", [row], COLUMNS)

    async def claim(self, org_id: str, conversation_id: str) -> Held:
        """Hold the conversation for a turn (renewing from now on), or `TurnRunning`."""
        if await self.live(org_id, conversation_id):
            raise TurnRunning()
        held = Held(self, org_id, conversation_id, uuid.uuid4().hex, time.time() + self.lease_s)
        await self.write(held, held.until)
        try:
            if self.settle_s:
                await asyncio.sleep(self.settle_s)  # every concurrent claim is visible after this
            if await self.live(org_id, conversation_id) != [held.claim_id]:
                raise TurnRunning()
        except BaseException:
            await held.release()
            raise
        held.start()
        return held


class Held:
    """A won claim: renewed in the background until `release`."""

    def __init__(self, claims: TurnClaims, org_id: str, conversation_id: str, claim_id: str, until: float):
        self.claims = claims
        self.org_id = org_id
        self.conversation_id = conversation_id
        self.claim_id = claim_id
        self.until = until  # unix s: the lease as last written
        self._renewing: asyncio.Task[None] | None = None
        self._released = False

    def start(self) -> None:
        self._renewing = asyncio.get_running_loop().create_task(
            self._renew(), name=f"loop-turn-lease-{self.conversation_id}"
        )

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.claims.lease_s / 3)
            until = time.time() + self.claims.lease_s
            try:
                await self.claims.write(self, until)
                self.until = until
            except Exception as exc:  # the store is unreachable: try again at the next tick
                log.warning(
                    "loop_turn_lease_renewal_failed", conversation=self.conversation_id, error=str(exc)
                )

    def check(self) -> None:
        """Raise `TurnLost` when the lease has run out (another process may hold the conversation)."""
        if self.until <= time.time():
            raise TurnLost(
                "this turn lost its hold on the conversation (its lease could not be renewed in "
                "time): stopped before writing; retry the turn"
            )

    async def release(self) -> None:
        """Stop renewing and give the conversation up (once; later calls do nothing)."""
        if self._released:
            return
        self._released = True
        if self._renewing is not None:
            # a renewal in flight was stamped earlier: this release is the newer version
            self._renewing.cancel()
        try:
            await self.claims.write(self, self.until, released=True)
        except Exception as exc:  # the lease still expires by itself
            log.warning("loop_turn_release_failed", conversation=self.conversation_id, error=str(exc))
