"""Scorers the runner knows by name (Braintrust's global functions, spec §2.2 `global`) and the
LLM-judge engine (`parser: {type: llm_classifier, use_cot, choice_scores}`).

* Heuristics (`Levenshtein`, `ExactMatch`, `NumericDiff`, `JSONDiff`, `ValidJSON`,
  `ListContains`) are autoevals' own scorers, run in-process: a few µs a row.
* Model-graded autoevals (`Factuality`, `ClosedQA`, `Battle`, `Humor`, `Possible`, `Security`,
  `Sql`, `Summary`, `Translation`) use autoevals' rubric templates and choice scores, rendered
  here and sent to the org's providers through its `ModelClient` (never over HTTP).
* `EmbeddingSimilarity` (cosine of the org's embeddings, scaled from 0.7 like autoevals) and
  `Moderation` (0 when the org's moderation model flags the output).

Names match case- and punctuation-insensitively (`closed_q_a`, `ClosedQA`, `closedqa`).
A scorer's own failure is a `Score` with `error`, never an exception.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from loopline.evaluator.runtime.mustache import render_object
from loopline.evaluator.runtime.prompts import Accounting, ModelCall
from loopline.evaluator.runtime.types import Score, ScorerArgs
from loopline.providers import ModelClient, ProviderError

DEFAULT_EMBEDDING_MODEL = "text-embedding-ada-002"
SELECT_CHOICE = "select_choice"


@lru_cache(maxsize=1024)
def canonical(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


# -- heuristics (in-process) ---------------------------------------------------------------------


@cache
def _heuristics() -> dict[str, Callable[[], Any]]:
    import autoevals

    return {
        canonical(n): getattr(autoevals, n)
        for n in (
            "Levenshtein",
            "LevenshteinScorer",
            "ExactMatch",
            "NumericDiff",
            "JSONDiff",
            "ValidJSON",
            "ListContains",
        )
        if hasattr(autoevals, n)
    }


@cache
def _heuristic_instance(key: str, config_json: str) -> Any:
    return _heuristics()[key](**json.loads(config_json))


def heuristic_score(key: str, display: str, args: ScorerArgs, config: dict[str, Any]) -> Score:
    """A heuristic autoevals scorer on one row (synchronous: microseconds)."""
    try:
        scorer = _heuristic_instance(key, json.dumps(config, sort_keys=True) if config else "{}")
        kwargs = {**args.extra, "output": args.output, "expected": args.expected}
        if key == "validjson":
            kwargs.pop("expected")
        result = scorer.eval(**kwargs)
    except Exception as exc:  # a heuristic's failure on odd input is that row's scorer error
        return Score(display, None, {}, f"{display}: {type(exc).__name__}: {exc}")
    metadata = result.metadata if isinstance(result.metadata, dict) else {}
    score = result.score
    if isinstance(score, bool):
        score = 1.0 if score else 0.0
    if score is not None and not (isinstance(score, int | float) and math.isfinite(score)):
        return Score(
            result.name or display, None, metadata, f"{display} returned a non-numeric score {score!r}"
        )
    return Score(result.name or display, None if score is None else float(score), metadata)


# -- model-graded autoevals templates --------------------------------------------------------------


@dataclass(frozen=True)
class ClassifierSpec:
    """An LLM classifier: its rubric (a mustache template), choices and their scores."""

    name: str
    prompt: str
    choice_scores: dict[str, float]
    use_cot: bool = True
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None


@cache
def _templates() -> dict[str, ClassifierSpec]:
    import autoevals.llm
    import yaml

    folder = Path(autoevals.llm.SCRIPT_DIR) / "templates"
    out: dict[str, ClassifierSpec] = {}
    for path in sorted(folder.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        display = "".join(
            part.capitalize() if len(part) > 1 else part.upper() for part in path.stem.split("_")
        )
        display = {"ClosedQA": "ClosedQA", "Sql": "Sql"}.get(display, display)
        out[canonical(path.stem)] = ClassifierSpec(
            name=display,
            prompt=str(spec["prompt"]),
            choice_scores={str(k): float(v) for k, v in spec["choice_scores"].items()},
            use_cot=bool(spec.get("use_cot", True)),
            model=spec.get("model"),
            temperature=spec.get("temperature"),
            max_tokens=spec.get("max_tokens"),
        )
    return out


def _suffix(use_cot: bool) -> str:
    import autoevals.llm

    return str(autoevals.llm.COT_SUFFIX if use_cot else autoevals.llm.NO_COT_SUFFIX)


def classification_tool(choices: list[str], use_cot: bool) -> dict[str, Any]:
    """The `select_choice` tool a judge model must call (autoevals' schema)."""
    import autoevals.llm

    return dict(autoevals.llm.build_classification_tools(use_cot, choices)[0])


def parse_choice(
    name: str, message: dict[str, Any], choice_scores: dict[str, float], *, allow_no_match: bool = False
) -> Score:
    """The score a judge model's answer selects: its `select_choice` call (or, failing that, a
    text answer that is exactly one of the choices)."""
    calls = [tc.get("function") or {} for tc in message.get("tool_calls") or []]
    metadata: dict[str, Any] = {}
    choice: str | None = None
    for fn in calls:
        if fn.get("name") != SELECT_CHOICE:
            continue
        try:
            args = json.loads(fn.get("arguments") or "{}")
        except json.JSONDecodeError:
            return Score(name, None, {}, f"{name}: the judge's select_choice arguments are not JSON")
        if not isinstance(args, dict):
            return Score(name, None, {}, f"{name}: the judge's select_choice arguments are not an object")
        raw = args.get("choice")
        choice = raw.strip() if isinstance(raw, str) else None
        reasons = args.get("reasons")
        if reasons is not None:
            metadata["rationale"] = (
                "\n".join(map(str, reasons)) if isinstance(reasons, list) else str(reasons)
            )
        break
    else:
        text = message.get("content")
        if isinstance(text, str) and text.strip() in choice_scores:
            choice = text.strip()
    if choice is None:
        return Score(
            name,
            None,
            metadata,
            f"{name}: the judge model made no choice (expected a {SELECT_CHOICE} call with one of "
            f"{sorted(choice_scores)})",
        )
    metadata["choice"] = choice
    if choice not in choice_scores:
        if allow_no_match:
            return Score(name, None, metadata)
        return Score(
            name, None, metadata, f"{name}: the judge chose {choice!r}, not one of {sorted(choice_scores)}"
        )
    return Score(name, choice_scores[choice], metadata)


async def judge(
    client: ModelClient,
    name: str,
    body: dict[str, Any],
    choice_scores: dict[str, float],
    use_cot: bool,
    accounting: Accounting,
    *,
    timeout_s: float | None = None,
    allow_no_match: bool = False,
) -> Score:
    """Ask the model in `body` (model, messages, params) to classify; the choice's score."""
    if not choice_scores:
        return Score(name, None, {}, f"{name}: the classifier has no choice_scores")
    request = {
        **body,
        "tools": [classification_tool(list(choice_scores), use_cot)],
        "tool_choice": {"type": "function", "function": {"name": SELECT_CHOICE}},
    }
    call = ModelCall(
        model=str(request.get("model")),
        provider="",
        input=list(request.get("messages") or []),
        params={k: v for k, v in request.items() if k != "messages"},
        start=time.time(),
    )
    accounting.calls.append(call)
    try:
        result = await client.chat(request, timeout_s=timeout_s)
    except ProviderError as exc:
        call.end, call.error = time.time(), str(exc)
        return Score(name, None, {}, accounting.failed(exc))
    call.end, call.usage, call.provider = time.time(), result.usage, result.provider
    call.output = [{"index": 0, "message": result.message, "finish_reason": result.finish_reason}]
    return parse_choice(name, result.message, choice_scores, allow_no_match=allow_no_match)


async def template_score(
    client: ModelClient,
    spec: ClassifierSpec,
    args: ScorerArgs,
    config: dict[str, Any],
    default_model: str,
    accounting: Accounting,
    timeout_s: float | None,
) -> Score:
    """A model-graded autoevals scorer (Factuality, ClosedQA, …) through the org's providers."""
    options = {
        **config,
        **{k: v for k, v in args.extra.items() if k in ("model", "use_cot", "temperature", "max_tokens")},
    }
    use_cot = bool(options.get("use_cot", spec.use_cot))
    variables = {
        **args.extra,
        "input": args.input,
        "output": args.output,
        "expected": args.expected,
        "metadata": args.metadata or {},
        "__choices": list(spec.choice_scores),
    }
    content = render_object(spec.prompt.strip() + "\n" + _suffix(use_cot), variables)
    body: dict[str, Any] = {
        "model": str(options.get("model") or spec.model or default_model),
        "messages": [{"role": "user", "content": content}],
    }
    for knob in ("temperature", "max_tokens"):
        value = options.get(knob, getattr(spec, knob))
        if value is not None:
            body[knob] = value
    return await judge(client, spec.name, body, spec.choice_scores, use_cot, accounting, timeout_s=timeout_s)


# -- embeddings and moderation -----------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _vectors(body: dict[str, Any]) -> list[list[float]]:
    import base64
    import struct

    out = []
    for item in sorted(body.get("data") or [], key=lambda d: int(d.get("index", 0))):
        emb = item.get("embedding")
        if isinstance(emb, str):
            raw = base64.b64decode(emb)
            emb = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        out.append([float(x) for x in emb or []])
    return out


async def embedding_similarity(
    client: ModelClient,
    args: ScorerArgs,
    config: dict[str, Any],
    accounting: Accounting,
    timeout_s: float | None,
) -> Score:
    name = "EmbeddingSimilarity"
    model = str(config.get("model") or args.extra.get("model") or DEFAULT_EMBEDDING_MODEL)
    expected_min = float(config.get("expected_min", args.extra.get("expected_min", 0.7)))
    if args.expected is None:
        return Score(name, None, {}, f"{name}: needs an expected value")
    try:
        result = await client.embed(
            {"model": model, "input": [_text(args.output), _text(args.expected)]}, timeout_s=timeout_s
        )
    except ProviderError as exc:
        return Score(name, None, {}, accounting.failed(exc))
    accounting.calls.append(
        ModelCall(model, result.provider, [], {"model": model}, time.time(), time.time(), None, result.usage)
    )
    vecs = _vectors(result.body)
    if len(vecs) != 2:
        return Score(name, None, {}, f"{name}: the provider returned {len(vecs)} embeddings for 2 inputs")
    a, b = vecs
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
    cos = 0.0 if na == 0 or nb == 0 else sum(x * y for x, y in zip(a, b, strict=False)) / (na * nb)
    return Score(name, min(1.0, max((cos - expected_min) / (1 - expected_min), 0.0)), {"cosine": cos})


async def moderation(
    client: ModelClient,
    args: ScorerArgs,
    config: dict[str, Any],
    accounting: Accounting,
    timeout_s: float | None,
) -> Score:
    name = "Moderation"
    body: dict[str, Any] = {"input": _text(args.output)}
    if config.get("model"):
        body["model"] = config["model"]
    try:
        result = await client.moderate(body, timeout_s=timeout_s)
    except ProviderError as exc:
        return Score(name, None, {}, accounting.failed(exc))
    first = (result.body.get("results") or [{}])[0]
    threshold = config.get("threshold", args.extra.get("threshold"))
    scores = first.get("category_scores") or {}
    if threshold is None:
        flagged = bool(first.get("flagged"))
    else:
        flagged = any(isinstance(v, int | float) and v > float(threshold) for v in scores.values())
    return Score(name, 0.0 if flagged else 1.0, {"threshold": threshold, "category_scores": scores})


# -- the catalogue -------------------------------------------------------------------------------------

LLM_FREE = "heuristic"


@lru_cache(maxsize=1024)
def kind_of(global_name: str) -> tuple[str, str] | None:
    """(kind, key) of a global scorer name: kind is heuristic, template, embedding, moderation."""
    key = canonical(global_name)
    if key in _heuristics():
        return LLM_FREE, key
    if key in _templates():
        return "template", key
    if key == "embeddingsimilarity":
        return "embedding", key
    if key == "moderation":
        return "moderation", key
    return None


def known_names() -> list[str]:
    return sorted(
        [
            *(c.__name__ for c in _heuristics().values()),
            *(s.name for s in _templates().values()),
            "EmbeddingSimilarity",
            "Moderation",
        ]
    )


def template(key: str) -> ClassifierSpec:
    return _templates()[key]
