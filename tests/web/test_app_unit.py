"""The web app's own unit tests (vitest, web/src/**/*.test.ts), run as part of the suite."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.web.conftest import ROOT


def test_vitest_suite_passes(web_dist: Path) -> None:
    done = subprocess.run(
        ["npm", "test", "--silent", "--", "--reporter=dot"],
        cwd=ROOT / "web",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "failed" not in done.stdout.lower()
