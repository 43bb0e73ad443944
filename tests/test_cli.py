"""The `loopline` CLI: keys create/list/revoke (offline), dlq against a running server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.running import RunningLoopline, free_port


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loopline.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LOOPLINE_LOG_LEVEL": "WARNING", **(env or {})},
    )


def test_keys_lifecycle(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    made = cli("keys", "create", "--name", "ci", "--data-dir", data)
    assert made.returncode == 0, made.stderr
    key = made.stdout.split()[0]
    assert key.startswith("sk-ll-") and "shown once" in made.stdout
    listed = cli("keys", "list", "--data-dir", data)
    assert key[:12] in listed.stdout and key not in listed.stdout and "active" in listed.stdout
    second = cli("keys", "create", "--name", "other", "--data-dir", data).stdout.split()[0]
    revoked = cli("keys", "revoke", key[:12], "--data-dir", data)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert cli("keys", "revoke", "sk-ll-nomatch", "--data-dir", data).returncode == 1
    ll = RunningLoopline(Path(data), free_port(), api_key=second).start()
    try:
        assert (
            httpx.post(f"{ll.url}/api/apikey/login", headers={"Authorization": f"Bearer {key}"}).status_code
            == 401
        )
        assert (
            httpx.post(
                f"{ll.url}/api/apikey/login", headers={"Authorization": f"Bearer {second}"}
            ).status_code
            == 200
        )
        out = cli("dlq", "list", "--url", ll.url, "--api-key", second)
        assert out.returncode == 0 and "no dead letters" in out.stdout
        bad = cli("dlq", "list", "--url", ll.url, "--api-key", key)
        assert bad.returncode == 1 and "401" in bad.stderr
    finally:
        assert ll.terminate() == 0


def test_bad_settings_exit_2_naming_the_setting(tmp_path: Path) -> None:
    out = cli("up", "--data-dir", str(tmp_path), env={"LOOPLINE_PORT": "99999999"})
    assert out.returncode == 2 and "LOOPLINE_PORT" in out.stderr
