from __future__ import annotations

from pathlib import Path

import pytest
from loopline.common.settings import SettingsError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOPLINE_CONFIG", raising=False)
    s = load_settings()
    assert s.port == 8000 and s.bus_url == "memory://"
    assert s.max_request_bytes == 32 * 1024 * 1024
    assert s.effective_store_dsn.startswith("chdb://")


def test_env_overrides_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "loopline.toml"
    cfg.write_text('[loopline]\nport = 9001\nbus_url = "kafka://127.0.0.1:9092"\nlog_level = "debug"\n')
    monkeypatch.setenv("LOOPLINE_CONFIG", str(cfg))
    monkeypatch.setenv("LOOPLINE_PORT", "9002")
    s = load_settings()
    assert s.port == 9002  # env beats file
    assert s.bus_url == "kafka://127.0.0.1:9092"  # from file
    assert s.log_level == "DEBUG"


def test_errors_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOPLINE_CONFIG", raising=False)
    monkeypatch.setenv("LOOPLINE_PORT", "not-a-port")
    monkeypatch.setenv("LOOPLINE_BUS_URL", "redis://x")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    msg = str(exc.value)
    assert "LOOPLINE_PORT" in msg and "LOOPLINE_BUS_URL" in msg and "memory://" in msg


def test_missing_and_bad_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOOPLINE_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings()
    bad = tmp_path / "bad.toml"
    bad.write_text("port = = 3")
    monkeypatch.setenv("LOOPLINE_CONFIG", str(bad))
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings()
