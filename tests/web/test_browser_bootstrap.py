"""tests/support/browser.py: where Chromium is looked for, and what happens when it is missing."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import browser


def test_configured_path_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = tmp_path / "my-chromium"
    exe.write_text("")
    monkeypatch.setenv("LOOPLINE_CHROMIUM", str(exe))
    assert browser.find_chromium() == str(exe)
    monkeypatch.setenv("LOOPLINE_CHROMIUM", str(tmp_path / "missing"))
    assert browser.find_chromium() is None


def _missing(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """No Chromium anywhere; apt-get calls are recorded and fail."""
    monkeypatch.delenv("LOOPLINE_CHROMIUM", raising=False)
    monkeypatch.setattr(browser, "CANDIDATES", ())
    monkeypatch.setattr(
        browser.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None
    )
    calls: list[tuple[str, ...]] = []

    def fake_apt(*args: str) -> Any:
        calls.append(args)
        return subprocess.CompletedProcess(
            ["apt-get", *args], 100, "", "E: Unable to locate package chromium"
        )

    monkeypatch.setattr(browser, "_apt_get", fake_apt)
    return calls


def test_missing_chromium_is_installed_with_apt_get_then_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _missing(monkeypatch)
    monkeypatch.setattr(browser.os, "geteuid", lambda: 0)
    with pytest.raises(browser.BrowserUnavailable, match="Unable to locate package chromium"):
        browser.ensure_chromium()
    # one install, a refresh of stale package lists, one more install
    assert [c[0] for c in calls] == ["install", "update", "install"]
    assert "chromium" in calls[0]


def test_without_root_it_says_what_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _missing(monkeypatch)
    monkeypatch.setattr(browser.os, "geteuid", lambda: 1000)
    with pytest.raises(browser.BrowserUnavailable, match="sudo apt-get install -y chromium"):
        browser.ensure_chromium()
    assert calls == []
    assert browser.launch_args() == []
