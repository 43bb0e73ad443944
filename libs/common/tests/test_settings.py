from __future__ import annotations

import os
from pathlib import Path

import pytest
from loopline.common.settings import SettingsError, SettingsSection, load_settings
from pydantic import Field, ValidationError


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOPLINE_CONFIG", raising=False)
    s = load_settings()
    assert s.port == 8000 and s.bus_url == "memory://"
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


class _Tuning(SettingsSection):
    SECTION = "tuning"
    FLAT_NAMES = {"limit_bytes": "limit_bytes"}

    batch: int = Field(default=10, gt=0)
    wait_s: float = 0.5
    limit_bytes: int = 100


def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("LOOPLINE_"):
            monkeypatch.delenv(var)


def test_section_defaults_and_every_spelling(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clean(monkeypatch)
    assert load_settings().section(_Tuning) == _Tuning()
    cfg = tmp_path / "c.toml"
    cfg.write_text("[loopline]\ntuning_wait_s = 2.0\nlimit_bytes = 7\n[loopline.tuning]\nbatch = 3\n")
    s = load_settings(cfg)
    assert s.section(_Tuning) == _Tuning(batch=3, wait_s=2.0, limit_bytes=7)  # nested and flat keys
    assert "LOOPLINE_CONFIG" not in os.environ  # the file is passed on, not put in the environment
    monkeypatch.setenv("LOOPLINE_TUNING_BATCH", "4")
    monkeypatch.setenv("LOOPLINE_LIMIT_BYTES", "8")
    assert load_settings(cfg).section(_Tuning) == _Tuning(batch=4, wait_s=2.0, limit_bytes=8)  # env > file
    monkeypatch.setenv("LOOPLINE_TUNING__BATCH", "5")
    assert load_settings(cfg).section(_Tuning).batch == 5  # nested env > flat env
    assert load_settings(cfg, tuning_batch=6).section(_Tuning).batch == 6  # keywords > env
    assert load_settings(cfg, tuning={"batch": 9}, tuning_batch=6).section(_Tuning).batch == 9


def test_section_is_cached_and_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean(monkeypatch)
    s = load_settings()
    t = s.section(_Tuning)
    assert s.section(_Tuning) is t
    with pytest.raises(ValidationError):
        t.batch = 2


def test_section_errors_name_where_the_value_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean(monkeypatch)
    monkeypatch.setenv("LOOPLINE_TUNING_BATCH", "0")
    with pytest.raises(SettingsError) as exc:
        load_settings().section(_Tuning)
    assert "LOOPLINE_TUNING_BATCH (tuning.batch)" in str(exc.value) and "greater than 0" in str(exc.value)
    _clean(monkeypatch)
    with pytest.raises(SettingsError, match=r"keyword tuning_wait_s \(tuning.wait_s\)"):
        load_settings(tuning_wait_s="soon").section(_Tuning)
    with pytest.raises(SettingsError, match=r"tuning\.nope\): not a setting"):
        load_settings(tuning={"nope": 1}).section(_Tuning)
