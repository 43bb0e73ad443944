"""Services do not import each other: what two services share lives in libs/ (common, btql,
providers). The one allowed edge is declared in the importing service's pyproject.toml."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {"classifier", "evaluator", "gateway", "ingest", "loop_agent", "query"}
# the loop agent's search_docs embeds with the classifier's embedding model (its pyproject says so)
ALLOWED = {("loop_agent", "classifier")}
IMPORT = re.compile(r"^\s*(?:from|import)\s+loopline\.(\w+)", re.MULTILINE)


def test_services_import_no_other_service() -> None:
    found: list[str] = []
    for pkg in sorted(SERVICES):
        src = next((ROOT / "services").glob(f"*/src/loopline/{pkg}"))
        for path in sorted(src.rglob("*.py")):
            for other in set(IMPORT.findall(path.read_text())) & SERVICES - {pkg}:
                if (pkg, other) not in ALLOWED:
                    found.append(f"{path.relative_to(ROOT)} imports loopline.{other}")
    assert not found, "\n".join(found)
