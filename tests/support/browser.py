"""A real browser for the web app's tests and benchmarks: Debian's Chromium, driven headless by
Playwright (its own browser download is not used). Installed with apt-get when missing, the way
conftest.py brings up Kafka: tests skip with the reason when it cannot be had, and fail in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium")
INSTALL_TIMEOUT_S = 900


class BrowserUnavailable(RuntimeError):
    """No Chromium, and it could not be installed; the message says why and what to do."""


def find_chromium() -> str | None:
    configured = os.environ.get("LOOPLINE_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for c in CANDIDATES:
        if Path(c).exists():
            return c
    return shutil.which("chromium")


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["apt-get", *args],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        check=False,
    )


def ensure_chromium() -> str:
    """The path of Chromium, installing Debian's package first when it is missing."""
    path = find_chromium()
    if path:
        return path
    if shutil.which("apt-get") is None:
        raise BrowserUnavailable("Chromium is not installed and there is no apt-get to install it")
    if os.geteuid() != 0:
        raise BrowserUnavailable("Chromium is not installed; run `sudo apt-get install -y chromium`")
    install = ("install", "-y", "--no-install-recommends", "chromium")
    done = _apt_get(*install)
    if done.returncode != 0:  # stale package lists on a fresh machine: refresh them once
        _apt_get("update")
        done = _apt_get(*install)
    path = find_chromium()
    if done.returncode != 0 or path is None:
        raise BrowserUnavailable(f"`apt-get install chromium` failed: {done.stderr.strip()[-800:]}")
    return path


def launch_args() -> list[str]:
    """Chromium's sandbox cannot run as root (as in containers and CI)."""
    return ["--no-sandbox"] if os.geteuid() == 0 else []
