"""The optional LLM fallback: spans the local model is unsure of go to an LLM of the org's providers.

Only for a facet that asks for it (`llm_fallback` on the classifier) while the process allows it
(`ClassifierSettings.llm_fallback`), and only for the spans the head gave `other` because its
confidence was under the facet's threshold. The call goes to the evaluator's model gateway
(`/v1/proxy/chat/completions`) as the span's org, through `ServiceContext.service_calls`
(in-process, or the gateway's URL): the model (the facet's `llm_model`, else the settings'
`llm_model`) is served by the org's own providers, built from its AI secrets by the provider
layer. An org with none, or none serving the model, changes nothing: the spans keep the head's
`other` (and the org is asked again after a while, not per span).

The taxonomy goes to the model as a tool schema (`classify`, its `label` an enum of the label
names plus `other`), one span per call, calls bounded per process. A decision the model makes
is written with `source.type = "llm"` (same classifier id and version: it is written once per
version like any machine label and never over a human one). A failed call, a refusal or an
answer outside the enum keeps the head's `other` and is counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson
from loopline.classifier.classify import BatchResult
from loopline.classifier.head import OTHER
from loopline.classifier.labels import Decision, merge_row
from loopline.classifier.settings import ClassifierSettings
from loopline.classifier.taxonomy import Classifier, Taxonomy
from loopline.common.auth import Principal
from loopline.common.logging import get_logger
from loopline.common.metrics import CLASSIFIER_SPANS
from loopline.common.service_calls import ServiceCalls, ServiceUnreachable

log = get_logger(__name__)
TOOL = "classify"
MAX_PROMPT_EXAMPLES = 3  # per label, in the system prompt
MAX_LABEL_TEXT = 300  # characters of a description or an example in the prompt
PROXY_CHAT = "/v1/proxy/chat/completions"  # the evaluator's model gateway
NO_PROVIDER_RECHECK_S = 30.0  # an org without a provider for the model is asked again after this


def tool_schema(taxonomy: Taxonomy) -> dict[str, Any]:
    names = [lab.name for lab in taxonomy.labels]
    return {
        "type": "function",
        "function": {
            "name": TOOL,
            "description": f"Record the {taxonomy.facet} of the user's request.",
            "parameters": {
                "type": "object",
                "properties": {
                    "label": {"type": "string", "enum": [*names, OTHER]},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                },
                "required": ["label"],
            },
        },
    }


def system_prompt(taxonomy: Taxonomy) -> str:
    lines = [
        f"You label the {taxonomy.facet} of a user's request to an AI product.",
        f"Call {TOOL} with exactly one of these labels, or {OTHER!r} when none fits:",
    ]
    for lab in taxonomy.labels:
        line = f"- {lab.name}"
        if lab.description:
            line += f": {lab.description[:MAX_LABEL_TEXT]}"
        examples = [e[:MAX_LABEL_TEXT] for e in lab.examples[:MAX_PROMPT_EXAMPLES]]
        if examples:
            line += " (e.g. " + "; ".join(repr(e) for e in examples) + ")"
        lines.append(line)
    return "\n".join(lines)


def parse_answer(arguments: str, taxonomy: Taxonomy) -> tuple[str, float] | None:
    """The (label, confidence) of a `classify` call, or None when it is not a usable answer."""
    try:
        args = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(args, Mapping):
        return None
    label = args.get("label")
    names = {lab.name for lab in taxonomy.labels} | {OTHER}
    if not isinstance(label, str) or label not in names:
        return None
    confidence = args.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        confidence = 1.0
    return label, max(0.0, min(1.0, float(confidence)))


class LlmFallback:
    """Relabels a batch's low-confidence `other` decisions with an LLM (see the module doc)."""

    def __init__(self, calls: Callable[[], ServiceCalls | None], settings: ClassifierSettings) -> None:
        self.calls = calls  # the model gateway's API as the org (None: no way to reach it)
        self.settings = settings
        self._slots = asyncio.Semaphore(settings.llm_concurrency)
        self._no_provider: dict[tuple[str, str], float] = {}  # (org, model) → until when

    def wants(self, classifier: Classifier) -> bool:
        return self.settings.llm_fallback and classifier.taxonomy.llm_fallback

    def model_of(self, classifier: Classifier) -> str:
        return classifier.taxonomy.llm_model or self.settings.llm_model

    def _unserved(self, org_id: str, model: str) -> bool:
        until = self._no_provider.get((org_id, model))
        return until is not None and time.monotonic() < until

    async def apply(self, org_id: str, result: BatchResult, classifiers: Sequence[Classifier]) -> int:
        """Replace eligible decisions (and their writes) in `result`; the number replaced."""
        wanted = {
            c.id: c for c in classifiers if self.wants(c) and not self._unserved(org_id, self.model_of(c))
        }
        calls = self.calls() if wanted else None
        if calls is None:
            return 0
        todo = [
            i
            for i, (row_id, d) in enumerate(result.decisions)
            if d.classifier_id in wanted
            and d.source == "model"
            and d.label == OTHER
            and (row_id, d.facet) in result.texts
        ][: self.settings.llm_max_per_batch]
        answers = await asyncio.gather(
            *(self._ask(calls, org_id, wanted[result.decisions[i][1].classifier_id], result, i) for i in todo)
        )
        replaced = 0
        for i, decision in zip(todo, answers, strict=True):
            if decision is None:
                continue
            row_id = result.decisions[i][0]
            result.decisions[i] = (row_id, decision)
            result.writes[i] = merge_row(row_id, decision)
            replaced += 1
        if todo:
            CLASSIFIER_SPANS.labels("llm").inc(replaced)
            CLASSIFIER_SPANS.labels("llm_kept").inc(len(todo) - replaced)
        return replaced

    async def _ask(
        self, calls: ServiceCalls, org_id: str, classifier: Classifier, result: BatchResult, i: int
    ) -> Decision | None:
        row_id, head = result.decisions[i]
        taxonomy = classifier.taxonomy
        model = self.model_of(classifier)
        if self._unserved(org_id, model):
            return None
        body = {
            "model": model,
            "messages": [
                {"role": "system", "content": system_prompt(taxonomy)},
                {"role": "user", "content": result.texts[(row_id, head.facet)]},
            ],
            "tools": [tool_schema(taxonomy)],
            "tool_choice": {"type": "function", "function": {"name": TOOL}},
            "temperature": 0,
        }
        try:
            async with self._slots:
                answer = await calls.call(
                    Principal(org_id=org_id, role="member"),
                    "POST",
                    PROXY_CHAT,
                    body,
                    timeout_s=self.settings.llm_timeout_s,
                )
        except ServiceUnreachable as exc:
            log.info("classifier_llm_unreachable", model=model, error=str(exc))
            return None
        if not answer.ok:
            message = answer.error_message()
            if answer.status == 400 and "provider" in message.lower():
                # the org has no provider serving this model: nothing changes (asked again later)
                self._no_provider[(org_id, model)] = time.monotonic() + NO_PROVIDER_RECHECK_S
            else:
                log.info("classifier_llm_failed", model=model, status=answer.status, error=message)
            return None
        parsed = _answer_of(answer.body, taxonomy)
        if parsed is None:
            return None
        label, confidence = parsed
        return replace(
            head,
            label=label,
            confidence=confidence,
            source="llm",
            metadata={
                "model": str((answer.body or {}).get("model") or model),
                "local": {"label": head.label, "confidence": round(head.confidence, 4), **head.metadata},
            },
        )


def _answer_of(body: Any, taxonomy: Taxonomy) -> tuple[str, float] | None:
    """The first usable `classify` call of an OpenAI-format chat completion."""
    try:
        calls = body["choices"][0]["message"].get("tool_calls") or []
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    for call in calls:
        fn = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(fn, Mapping) and fn.get("name") == TOOL:
            parsed = parse_answer(str(fn.get("arguments") or ""), taxonomy)
            if parsed is not None:
                return parsed
    return None
