"""BTQL queries of adversarial *cost* (within every size limit) while other clients work: each
must be answered (200 or a 4xx) and must not starve the others — the bystander's writes and
reads keep answering 200 and the `/healthz` prober never stalls. (fuzz-findings.md N2: a filter of
2,000 ANDed comparisons held the store for ~19-25 s; a concurrent fetch got 503.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fuzz_client import Case
from tests.support.fuzz_env import SEED, FuzzEnv, conclude, start_fuzz_env

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzEnv]:
    e = start_fuzz_env(tmp_path_factory.mktemp("fuzz-btql-cost") / "data")
    yield e
    assert e.stop() == 0, e.ll.log_text()


def _shapes(pid: str) -> dict[str, str]:
    src = f"from: project_logs('{pid}')"
    return {
        "2000 ANDed comparisons": f"select: id | {src} | filter: "
        + " and ".join(f"metadata.k{i} = {i}" for i in range(2000)),
        "2000 ORed comparisons": f"select: id | {src} | filter: "
        + " or ".join(f"metadata.k{i} = {i}" for i in range(2000)),
        "IN list of 5000 strings": f"select: id | {src} | filter: input IN ["
        + ", ".join(f"'v{i}'" for i in range(5000))
        + "]",
        "1000 distinct select columns": "select: "
        + ", ".join(f"metadata.k{i}" for i in range(1000))
        + f" | {src}",
        "500 measures": "measures: "
        + ", ".join(f"sum(metadata.k{i}) as m{i}" for i in range(500))
        + f" | {src}",
        "dimensions on 300 paths": "dimensions: "
        + ", ".join(f"metadata.k{i}" for i in range(300))
        + f" | measures: count(1) as n | {src}",
        "2000 LIKE terms": f"select: id | {src} | filter: "
        + " or ".join(f"input LIKE '%{i}%'" for i in range(2000)),
    }


@pytest.mark.parametrize("shape", list(_shapes("p")))
def test_costly_btql_does_not_starve_others(env: FuzzEnv, shape: str) -> None:
    window = env.mark()
    client = env.client()
    query = _shapes(env.mine.project_id)[shape]
    r = client.send(Case(f"btql-cost {shape}", "POST", "/btql", {"query": query}))
    status = None if r is None else r.status_code
    problems = conclude(env, f"btql cost: {shape} -> {status}", window, [client])
    assert not problems, f"{len(problems)} broken invariants (seed {SEED}):\n" + "\n".join(problems)
