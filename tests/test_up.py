"""`loopline up` from a fresh directory: healthz, readyz, the dev key works, SIGTERM exits 0."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.running import RunningLoopline, free_port


def test_up_fresh_dir_health_and_sigterm(tmp_path: Path) -> None:
    ll = RunningLoopline(tmp_path / "data", free_port()).start()
    try:
        assert httpx.get(ll.url + "/healthz").json() == {"status": "ok"}
        ready = httpx.get(ll.url + "/readyz").json()
        assert ready["status"] == "ready" and ready["checks"] == {"bus": True, "store": True}
        r = httpx.post(ll.url + "/api/apikey/login", headers=ll.headers)
        assert r.status_code == 200, r.text
        assert r.json()["org_info"][0]["name"] == "default"
        bad = httpx.post(ll.url + "/api/apikey/login", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and "invalid" in bad.json()["error"]["message"]
        assert "x-request-id" in r.headers
    finally:
        rc = ll.terminate()
    assert rc == 0, ll.log_text()
    log = ll.log_text()
    assert "loopline stopped" in log
    assert (tmp_path / "data" / "clickhouse").is_dir()


def test_up_restart_keeps_data_and_key(tmp_path: Path) -> None:
    port = free_port()
    ll = RunningLoopline(tmp_path / "data", port).start()
    assert ll.terminate() == 0
    ll2 = RunningLoopline(tmp_path / "data", port, api_key=ll.api_key).start()
    try:
        r = httpx.post(ll2.url + "/api/apikey/login", headers=ll2.headers)
        assert r.status_code == 200
    finally:
        assert ll2.terminate() == 0
