"""`loopline up` killed with -9 during a mixed load (valid senders plus the hostile write/OTLP/BTQL
fuzz), restarted on the same data dir: every acknowledged row — valid or fuzzed — is readable
exactly once, and no row of a refused request appears."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from tests.faults.test_ingest_faults import Sender, count_and_ids
from tests.support import fuzz_drivers as d
from tests.support.fuzz_client import Ledger, check_ledger
from tests.support.fuzz_env import SEED, start_fuzz_env
from tests.support.running import RunningLoopline

pytestmark = pytest.mark.timeout(300)


def test_killed_during_mixed_fuzz_loses_no_acknowledged_row(tmp_path: Path) -> None:
    env = start_fuzz_env(tmp_path / "data")
    senders = [Sender(env.ll, env.mine.project_id, rows_per_request=100) for _ in range(2)]
    for s in senders:
        s.start()
    rng, client, ledger = random.Random(f"{SEED}:kill"), env.client(), Ledger()
    stop = threading.Event()
    fuzzer = threading.Thread(
        target=d.mixed_fuzz, args=(env, client, ledger, rng, 60, 5000, f"x{SEED}", stop), daemon=True
    )
    fuzzer.start()
    time.sleep(6)
    env.stop_watchers()
    killed_at = time.monotonic()
    env.ll.kill()  # SIGKILL under load: acknowledged rows may exist only in the bus journal
    stop.set()
    for s in senders:
        s.stop_flag.set()
        s.join()
    fuzzer.join(timeout=60)
    before_kill = [f for f in client.findings if f.at < killed_at]
    client.close()
    acked = [i for s in senders for i in s.acked]
    assert acked and ledger.acked_requests, ([s.statuses for s in senders], client.statuses)
    ll2 = RunningLoopline(env.ll.data_dir, env.ll.port, api_key=env.ll.api_key).start()
    try:
        n, ids = count_and_ids(ll2, env.mine.project_id)
        problems = [str(f) for f in before_kill]
        missing = set(acked) - ids
        if missing:
            problems.append(f"{len(missing)} of {len(acked)} rows of the valid senders lost")
        if n != len(ids):
            problems.append(
                f"project logs: BTQL counts {n} rows, fetch finds {len(ids)} distinct ids (not exactly once)"
            )
        ledger.ack(("project_logs", env.bystander.project_id), env.bystander.acked)
        by_n, by_ids = count_and_ids(ll2, env.bystander.project_id)
        if by_n != len(by_ids):
            problems.append(f"bystander project: BTQL counts {by_n} rows, fetch finds {len(by_ids)} ids")
        problems += check_ledger(ll2.url, ll2.api_key, ledger)
        print(
            f"kill -9 (seed {SEED}): valid senders {[s.statuses for s in senders]}, {len(acked)} rows acked; "
            f"fuzz {client.sent} requests {dict(sorted(client.statuses.items()))}, "
            f"{ledger.acked_requests} writes acked, {ledger.rejected_requests} refused"
        )
        assert not problems, f"{len(problems)} broken invariants (seed {SEED}):\n" + "\n".join(problems)
    finally:
        assert ll2.terminate() == 0, ll2.log_text()
