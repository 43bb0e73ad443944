"""search_docs: Loopline's documentation cut into passages, embedded with the classifier's model
(cached on disk), searched by meaning; and the tool in a scripted conversation."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import orjson
import pytest
from loopline.loop_agent.docs_index import (
    DocsSearch,
    DocsUnavailable,
    build_index,
    classifier_embedder,
    doc_files,
    passages_of,
    repo_root,
)
from loopline.loop_agent.events import parse_sse

from tests.support.app import in_process
from tests.support.llm_server import Reply, ScriptedLLM, ToolCall

DOC = """# Tool
Intro line.

## Install
Run `pip install tool`.

```
# not a heading, inside code
```

## Configure
### Keys
Set TOOL_KEY.
"""


class CountingEmbedder:
    """Bag-of-letters vectors (enough to rank a query's own words first); counts texts embedded."""

    model_id = "counting-v1"

    def __init__(self) -> None:
        self.embedded = 0

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.embedded += len(texts)
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, t in enumerate(texts):
            for word in t.lower().split():
                out[i, zlib.crc32(word.encode()) % 64] += 1  # not hash(): salted per process
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


def test_passages_follow_headings_and_skip_code() -> None:
    ps = passages_of("docs/tool.md", DOC)
    assert [(p.section, p.text.splitlines()[0]) for p in ps] == [
        ("Tool", "Intro line."),
        ("Tool > Install", "Run `pip install tool`."),
        ("Tool > Configure > Keys", "Set TOOL_KEY."),
    ]
    assert "# not a heading" in ps[1].text
    long = "# T\n\n" + "\n\n".join(f"paragraph {i} " + "x" * 200 for i in range(10))
    pieces = passages_of("t.md", long, limit=500)
    assert len(pieces) > 3 and all(len(p.text) <= 500 for p in pieces)
    assert "".join(p.text for p in pieces).count("paragraph") == 10


def test_index_is_cached_by_model_and_contents(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "node_modules" / "x").mkdir(parents=True)
    (root / "README.md").write_text("# Repo\nLoopline stores traces in ClickHouse.\n")
    (root / "docs" / "keys.md").write_text(DOC)
    (root / "node_modules" / "x" / "README.md").write_text("# dependency\n")
    assert [str(p.relative_to(root)) for p in doc_files(root)] == ["README.md", "docs/keys.md"]
    e = CountingEmbedder()
    first = build_index(root, e, tmp_path / "cache")
    assert e.embedded == len(first.passages) == 4
    again = build_index(root, e, tmp_path / "cache")
    assert e.embedded == 4 and np.array_equal(first.vectors, again.vectors)  # read from the cache
    (root / "docs" / "keys.md").write_text(DOC + "\n## More\nSet TOOL_REGION too.\n")
    changed = build_index(root, e, tmp_path / "cache")
    assert e.embedded == 4 + 5 and len(changed.passages) == 5
    hits = changed.search("Set TOOL_KEY.", k=2)
    assert hits[0]["source"] == "docs/keys.md" and hits[0]["section"] == "Tool > Configure > Keys"


async def test_no_documentation_is_a_clear_failure() -> None:
    with pytest.raises(DocsUnavailable, match="docs_root"):
        await DocsSearch(None, classifier_embedder).search("x", 3)


def test_the_real_model_finds_the_right_readme() -> None:
    """Loopline's own docs with the classifier's model: the question's README ranks first."""
    root = repo_root()
    assert root is not None
    embedder, cache = classifier_embedder()
    index = build_index(root, embedder, cache)
    for question, source in (
        ("how are AI provider keys encrypted at rest", "services/evaluator/README.md"),
        ("limits on user code in the sandbox: memory, processes, network", "sandbox/README.md"),
        ("deploy with a Helm chart on Kubernetes", "deploy/README.md"),
    ):
        hits = index.search(question, k=3)
        assert hits[0]["source"].endswith(source), (question, hits)


async def test_search_docs_in_a_conversation(
    chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    section = {
        "providers": [
            {"name": "openai", "kind": "openai", "api_key": "k", "base_url": scripted_llm.openai_base_url}
        ],
        "default_model": "gpt-4o",
    }
    async with in_process(chdb_dsn, tmp_path, ("gateway", "loop-agent"), loop_agent=section) as ll:
        scripted_llm.push(
            Reply(
                tool_calls=[
                    ToolCall("search_docs", {"query": "where do AI secrets keep their encryption key"})
                ]
            ),
            Reply("In LOOPLINE_AI_SECRETS_KEY (services/evaluator/README.md)."),
        )
        cid = (await ll.client.post("/v1/loop/conversations", json={}, headers=ll.headers)).json()["id"]
        r = await ll.client.post(
            f"/v1/loop/conversations/{cid}/messages",
            json={"content": "how are secrets encrypted?", "page": {"kind": "btql"}},
            headers=ll.headers,
        )
        events = parse_sse(r.text)
        result = next(e.data for e in events if e.type == "tool_result")
        assert result["ok"] and "services/evaluator/README.md" in result["summary"], result
        seen = scripted_llm.requests_to("/v1/chat/completions")[1].messages[-1]
        passages = orjson.loads(seen["content"])["passages"]
        assert passages[0]["source"] == "services/evaluator/README.md"
        assert "AI secret" in passages[0]["section"] and passages[0]["text"]
        assert events[-1].data["status"] == "complete"
