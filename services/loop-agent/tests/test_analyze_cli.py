"""`loopline analyze` against a real `loopline up` (no model configured), with a seeded project."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
from loopline.loop_agent.evaluation import seed

from tests.support.running import RunningLoopline, free_port


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loopline.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LOOPLINE_LOG_LEVEL": "WARNING"},
    )


async def _seed(url: str, headers: dict[str, str]) -> seed.SeedRows:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return await seed.seed_project(client, headers, "cli-bot", traces=80)


def test_analyze_prints_the_answer_and_refuses_clearly(tmp_path: Path) -> None:
    ll = RunningLoopline(tmp_path / "data", free_port()).start()
    try:
        s = asyncio.run(_seed(ll.url, ll.headers))
        out = cli(
            "analyze", "provider-errors", "--project", s.project_id, "--url", ll.url, "--api-key", ll.api_key
        )
        assert out.returncode == 0, out.stderr
        body = orjson.loads(out.stdout)
        assert body["analysis"] == "provider_errors"
        assert body["result"]["by_kind"] == seed.expected_provider_errors(s)
        out = cli(
            "analyze", "top_errors", "--project", s.project_id, "--url", ll.url, "--api-key", ll.api_key
        )
        names = [x["name"] for x in orjson.loads(out.stdout)["result"]["by_span_name"]]
        assert names == [n for n, *_ in seed.expected_errors_by_name(s)]
        bad = cli("analyze", "nope", "--project", s.project_id, "--url", ll.url, "--api-key", ll.api_key)
        assert bad.returncode == 1 and "404" in bad.stderr and "top_errors" in bad.stderr
        unauth = cli(
            "analyze", "intents", "--project", s.project_id, "--url", ll.url, "--api-key", "sk-ll-wrong"
        )
        assert unauth.returncode == 1 and "401" in unauth.stderr
    finally:
        assert ll.terminate() == 0
