"""The mixed fuzz (hostile writes, OTLP and BTQL interleaved) against `loopline up` on a real
Kafka broker, next to a valid sender: the same invariants as tests/fuzz/test_fuzz_endpoints.py,
and every row the valid sender got a 200 for is readable exactly once."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest

from tests.faults.test_ingest_faults import Sender, count_and_ids
from tests.support import fuzz_drivers as d
from tests.support.fuzz_client import Ledger
from tests.support.fuzz_env import SEED, conclude, start_fuzz_env

pytestmark = pytest.mark.timeout(300)


@pytest.mark.kafka
def test_mixed_fuzz_on_kafka(tmp_path: Path, kafka_bootstrap: str) -> None:
    env = start_fuzz_env(
        tmp_path / "data",
        bus=f"kafka://{kafka_bootstrap}",
        extra_env={"LOOPLINE_TOPIC_PREFIX": f"fuzz{uuid.uuid4().hex[:6]}."},
    )
    try:
        window = env.mark()
        sender = Sender(env.ll, env.mine.project_id, rows_per_request=50)
        sender.start()
        rng, client, ledger = random.Random(f"{SEED}:kafka"), env.client(), Ledger()
        d.mixed_fuzz(env, client, ledger, rng, budget_s=40, count=120, tag=f"k{SEED}")
        sender.stop_flag.set()
        sender.join()
        n, ids = count_and_ids(env.ll, env.mine.project_id)
        extra = []
        if set(sender.acked) - ids:
            extra.append(
                f"{len(set(sender.acked) - ids)} of {len(sender.acked)} rows of the valid sender lost"
            )
        if n != len(ids):
            extra.append(f"project logs: BTQL counts {n} rows, fetch finds {len(ids)} distinct ids")
        if set(sender.statuses) - {"200"}:
            extra.append(f"the valid sender got {sender.statuses}")
        print("valid sender:", sender.statuses)
        problems = conclude(env, "kafka mixed", window, [client], ledger, extra)
        assert sender.acked and ledger.acked_requests
        assert not problems, f"{len(problems)} broken invariants (seed {SEED}):\n" + "\n".join(problems)
    finally:
        assert env.stop() == 0, env.ll.log_text()
