"""Semantic search over Loopline's own documentation (the `search_docs` tool).

The documents are the Markdown files shipped in the repository (README.md, docs/, DESIGN-like
files, each service's and library's README), cut into passages along their headings. Passages are
embedded offline with the classifier's embedding model (all-MiniLM-L6-v2 int8, shipped in PyPI
packages: nothing is downloaded) and the vectors are cached on disk, keyed by the model and the
documents' contents, so a start-up after the first only reads the cache. The index is built at
start-up in a worker thread; the model that embeds queries loads on the first search.

A query's score is the cosine similarity of its vector and a passage's, plus a small bonus for the
query's words that the passage contains (names such as `BTQL` or `/v1/proxy` matter verbatim)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from loopline.common.logging import get_logger

log = get_logger(__name__)

CHUNK_VERSION = "md-v1"
MAX_PASSAGE_CHARS = 700
_SKIP_DIRS = frozenset({"node_modules", ".venv", "venv", "__pycache__", "dist", "build", "tests"})
_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
_WORD = re.compile(r"[a-z0-9_./-]{3,}")
LEXICAL_WEIGHT = 0.15


class Embedder(Protocol):
    @property
    def model_id(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


@dataclass(frozen=True)
class Passage:
    source: str  # the file, relative to the documentation root
    section: str  # its heading path ("Loopline > Configuration")
    text: str

    def embedded_text(self) -> str:
        return f"{self.section}\n{self.text}" if self.section else self.text


def repo_root(start: Path | None = None) -> Path | None:
    """The workspace root above this package (the directory whose pyproject.toml declares the uv
    workspace), or None when installed elsewhere."""
    here = (start or Path(__file__)).resolve()
    for d in here.parents:
        p = d / "pyproject.toml"
        if p.is_file() and "[tool.uv.workspace]" in p.read_text(errors="replace"):
            return d
    return None


def doc_files(root: Path) -> list[Path]:
    """The Markdown files under `root` that are documentation (not dependencies, not tests)."""
    out = []
    for p in sorted(root.rglob("*.md")):
        rel = p.relative_to(root).parts
        if any(part.startswith(".") or part in _SKIP_DIRS for part in rel[:-1]):
            continue
        out.append(p)
    return out


def _split_long(text: str, limit: int) -> list[str]:
    """Paragraph-aware pieces of at most ~`limit` characters."""
    pieces: list[str] = []
    current = ""
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        while len(para) > limit:  # one huge paragraph (a table, a code block): cut at line ends
            cut = para.rfind("\n", 0, limit)
            cut = cut if cut > limit // 3 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(para[:cut].strip())
            para = para[cut:].strip()
        if current and len(current) + len(para) + 2 > limit:
            pieces.append(current)
            current = ""
        current = f"{current}\n\n{para}" if current else para
    if current:
        pieces.append(current)
    return pieces


def passages_of(source: str, markdown: str, limit: int = MAX_PASSAGE_CHARS) -> list[Passage]:
    """A document cut along its headings, each section into passages of at most ~`limit` chars."""
    out: list[Passage] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []
    in_code = False

    def flush() -> None:
        text = "\n".join(body).strip()
        body.clear()
        if text:
            section = " > ".join(t for _, t in path)
            out.extend(Passage(source, section, piece) for piece in _split_long(text, limit))

    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        m = None if in_code else _HEADING.match(line)
        if m:
            flush()
            level = len(m.group(1))
            path = [(lv, t) for lv, t in path if lv < level] + [(level, m.group(2).strip("# "))]
        else:
            body.append(line)
    flush()
    return out


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


class DocsIndex:
    """Passages and their vectors; `search` ranks them for a query."""

    def __init__(self, passages: list[Passage], vectors: npt.NDArray[np.float32], embedder: Embedder) -> None:
        self.passages = passages
        self.vectors = vectors
        self.embedder = embedder
        self._words = [_words(p.embedded_text()) for p in passages]

    def search(self, query: str, k: int = 5) -> list[dict[str, Any]]:
        if not self.passages:
            return []
        q = self.embedder.embed([query])[0]
        scores = self.vectors @ q
        terms = _words(query)
        if terms:
            bonus = np.fromiter(
                (len(terms & w) / len(terms) for w in self._words), np.float32, len(self._words)
            )
            scores = scores + LEXICAL_WEIGHT * bonus
        top = np.argsort(-scores, kind="stable")[:k]
        return [
            {
                "source": self.passages[i].source,
                "section": self.passages[i].section,
                "score": round(float(scores[i]), 4),
                "text": self.passages[i].text,
            }
            for i in top
        ]


def _cache_key(model_id: str, files: list[tuple[str, bytes]]) -> str:
    h = hashlib.sha256(f"{CHUNK_VERSION}\0{MAX_PASSAGE_CHARS}\0{model_id}".encode())
    for name, content in files:
        h.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(content).digest())
    return h.hexdigest()[:24]


def build_index(root: Path, embedder: Embedder, cache_dir: Path | None) -> DocsIndex:
    """The index of the documentation under `root`, read from `cache_dir` when it holds this exact
    version (same model, same documents), else embedded and written there."""
    files = [(str(p.relative_to(root)), p.read_bytes()) for p in doc_files(root)]
    passages = [
        ps for name, content in files for ps in passages_of(name, content.decode("utf-8", errors="replace"))
    ]
    cached = cache_dir / f"loop-docs-{_cache_key(embedder.model_id, files)}.npy" if cache_dir else None
    if cached is not None and cached.is_file():
        vectors = np.load(cached)
        if vectors.shape[0] == len(passages):
            return DocsIndex(passages, vectors, embedder)
    vectors = embedder.embed([p.embedded_text() for p in passages]).astype(np.float32)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp.npy")
            np.save(tmp, vectors)
            tmp.replace(cached)
        except OSError as exc:  # a read-only cache: the index still works, it is rebuilt next start
            log.warning("could not cache the docs index", path=str(cached), error=str(exc))
    log.info("docs index built", passages=len(passages), files=len(files))
    return DocsIndex(passages, vectors, embedder)


class _LazyEmbedder:
    """The classifier's local embedder, loaded on first use (the model id is known without it)."""

    def __init__(self, load: Callable[[], Embedder], model_id: str) -> None:
        self._load = load
        self._model_id = model_id
        self._inner: Embedder | None = None

    @property
    def model_id(self) -> str:
        return self._model_id

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if self._inner is None:
            self._inner = self._load()
        return self._inner.embed(texts)


def classifier_embedder() -> tuple[Embedder, Path]:
    """The classifier's embedding model (loaded on first use) and its cache directory."""
    from loopline.classifier.embedding.local import (
        DEFAULT_MAX_TOKENS,
        MODEL_NAME,
        default_cache_dir,
        local_embedder,
    )

    return _LazyEmbedder(local_embedder, f"{MODEL_NAME}-dynq/t{DEFAULT_MAX_TOKENS}"), default_cache_dir()


class DocsSearch:
    """The process's docs index: built once (in a thread, started by `start`), awaited by searches."""

    def __init__(self, root: Path | None, load: Callable[[], tuple[Embedder, Path | None]]) -> None:
        self.root = root
        self._load = load
        self._task: asyncio.Task[DocsIndex] | None = None

    def start(self) -> None:
        if self._task is None and self.root is not None:
            root = self.root

            def build() -> DocsIndex:
                embedder, cache_dir = self._load()
                return build_index(root, embedder, cache_dir)

            self._task = asyncio.get_running_loop().create_task(asyncio.to_thread(build))
            self._task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def index(self) -> DocsIndex:
        """The index (waits for the build); raises `DocsUnavailable` saying why there is none."""
        if self.root is None:
            raise DocsUnavailable("no documentation directory (loop_agent.docs_root) is configured")
        self.start()
        assert self._task is not None
        try:
            return await asyncio.shield(self._task)
        except Exception as exc:
            raise DocsUnavailable(f"the documentation index could not be built: {exc}") from exc

    async def search(self, query: str, k: int) -> list[dict[str, Any]]:
        index = await self.index()
        return await asyncio.to_thread(index.search, query, k)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()


class DocsUnavailable(Exception):
    pass
