"""Discovery through the API: the spans a facet labels `other` (all root spans of the window when
it has no labels yet) → proposed labels (discovery.py); accepting one adds it as a label.

Names come from the clusters' distinctive words. When the org has an AI provider, an LLM of it
(through the evaluator's model gateway, as the caller) is asked for a short name and description
of each proposal from its representatives and keywords; without a provider, or when the model
fails or answers something unusable, the keyword name stands. Nothing is stored until a proposal
is accepted (`accept`: ``{name, description?, examples?}`` or ``{labels: [...]}`` → a new version).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from loopline.classifier.classify import HeadCache
from loopline.classifier.discovery import DiscoveryConfig, Proposal, propose
from loopline.classifier.gateway_api import GatewayApi
from loopline.classifier.head import OTHER
from loopline.classifier.improve import int_field, str_field
from loopline.classifier.taxonomy import FACET_NAME, MAX_NAME_CHARS, Classifier, TaxonomyStore
from loopline.classifier.text import extract_text
from loopline.common.errors import Invalid
from loopline.common.logging import get_logger
from loopline.common.service_calls import ServiceUnreachable

log = get_logger(__name__)
MAX_SPANS = 5000
PROXY_CHAT = "/v1/proxy/chat/completions"
NAME_TOOL = "name_cluster"
_NAME = "^[a-z][a-z0-9_]{0,63}$"


def spans_query(classifier: Classifier, days: int) -> str:
    """The root spans to cluster: the facet's `other` ones, or all when it has no labels yet."""
    t = classifier.taxonomy
    assert FACET_NAME.match(t.facet)
    pid = classifier.project_id.replace("'", "''")
    fields = "*" if t.text_path else "id, input"
    where = f"is_root and created > now() - interval {int(days)} day"
    if t.labels:
        where += f" and classifications.{t.facet}[0].label = '{OTHER}'"
    return f"select: {fields} | from: project_logs('{pid}') | filter: {where}"


def _config(body: Mapping[str, Any]) -> DiscoveryConfig:
    return DiscoveryConfig(
        min_size=int_field(body, "min_cluster_size", 5, 2, 1000) or 5,
        max_proposals=int_field(body, "max_proposals", 10, 1, 50) or 10,
    )


def naming_request(model: str, facet: str, p: Proposal) -> dict[str, Any]:
    examples = "\n".join(f"- {e[:300]}" for e in p.examples)
    return {
        "model": model,
        "temperature": 0,
        "messages": [
            {
                "role": "system",
                "content": f"You name groups of user requests for a {facet} taxonomy. Give a short "
                "snake_case label name (1-3 words) and a one-sentence description of what the "
                "users in the group want.",
            },
            {"role": "user", "content": f"Keywords: {', '.join(p.keywords)}\nRequests:\n{examples}"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": NAME_TOOL,
                    "description": "Record the name and description of the group.",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string", "pattern": _NAME},
                            "description": {"type": "string"},
                        },
                        "required": ["name", "description"],
                    },
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": NAME_TOOL}},
    }


def parse_naming(body: Any) -> tuple[str, str] | None:
    """(name, description) from the model's `name_cluster` call, or None when unusable."""
    try:
        calls = body["choices"][0]["message"].get("tool_calls") or []
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    for call in calls:
        fn = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(fn, Mapping) or fn.get("name") != NAME_TOOL:
            continue
        try:
            args = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            continue
        if not isinstance(args, dict):
            continue
        name = "_".join(str(args.get("name") or "").strip().lower().replace("-", " ").split())
        description = str(args.get("description") or "").strip()
        if name and name != OTHER and len(name) <= MAX_NAME_CHARS and name.replace("_", "").isalnum():
            return name, description[:500]
    return None


async def name_with_llm(
    api: GatewayApi, model: str, facet: str, proposals: Sequence[Proposal], taken: set[str]
) -> str | None:
    """Rename proposals with the org's LLM; stops at the first refusal (e.g. no provider) and says
    why (None when every proposal was asked)."""
    for p in proposals:
        try:
            answer = await api.call("POST", PROXY_CHAT, naming_request(model, facet, p))
        except ServiceUnreachable as exc:
            return f"the model gateway is unreachable: {exc}"
        if not answer.ok:
            return f"{model}: {answer.error_message()}"
        parsed = parse_naming(answer.body)
        if parsed is None:
            log.info("classifier_naming_unusable", model=model)
            continue
        name, description = parsed
        if name.casefold() in taken:
            continue
        taken.discard(p.name.casefold())
        taken.add(name.casefold())
        p.name, p.named_by = name, "llm"
        if description:
            p.description = description
    return None


async def discover(
    api: GatewayApi,
    heads: HeadCache,
    classifier: Classifier,
    body: Mapping[str, Any],
    default_model: str,
) -> dict[str, Any]:
    """``{days?: 7, limit?: 2000, min_cluster_size?: 5, max_proposals?: 10, llm?: true, model?}``."""
    t = classifier.taxonomy
    days = int_field(body, "days", 7, 1, 3650) or 7
    limit = int_field(body, "limit", 2000, 10, MAX_SPANS) or 2000
    config = _config(body)
    use_llm = body.get("llm", True)
    if not isinstance(use_llm, bool):
        raise Invalid("llm must be true or false", field="llm")
    model = str_field(body, "model") or t.llm_model or default_model
    query = spans_query(classifier, days)
    rows = await api.btql(query, limit)
    texts: list[str] = []
    ids: list[str] = []
    for row in rows:
        text = extract_text(row, t.text_path)
        if text is not None and isinstance(row.get("id"), str):
            texts.append(text)
            ids.append(row["id"])
    proposals: list[Proposal] = []
    if len(texts) >= config.min_size:
        vectors = await asyncio.to_thread(heads.embedder.embed, texts)
        existing = [lab.name for lab in t.labels]
        proposals = await asyncio.to_thread(propose, texts, vectors, ids, existing, config)
    naming: dict[str, Any] = {"by": "keywords"}
    if proposals and use_llm:
        taken = {lab.name.casefold() for lab in t.labels} | {p.name.casefold() for p in proposals}
        why_not = await name_with_llm(api, model, t.facet, proposals, taken)
        naming = {"by": "llm" if why_not is None else "keywords", "model": model}
        if why_not is not None:
            naming["llm_unavailable"] = why_not
    return {
        "classifier_id": classifier.id,
        "version": classifier.version,
        "facet": t.facet,
        "source": f"{t.facet} = {OTHER}" if t.labels else "all root spans (no labels yet)",
        "spans": len(rows),
        "texts": len(texts),
        "clustered": sum(p.size for p in proposals),
        "naming": naming,
        "proposals": [p.public() for p in proposals],
        "query": query,
    }


def _accepted(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = body.get("labels")
    if raw is None:
        raw = [body]
    if not isinstance(raw, list) or not raw:
        raise Invalid(
            "give a proposal {name, description?, examples?} or labels: [proposals]", field="labels"
        )
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise Invalid("a proposal must be an object", field=f"labels[{i}]")
        out.append(
            {
                "name": item.get("name"),
                "description": item.get("description") or "",
                "examples": item.get("examples") or [],
            }
        )
    return out


async def accept(
    taxonomies: TaxonomyStore, classifier: Classifier, body: Mapping[str, Any], user_id: str = ""
) -> dict[str, Any]:
    """Add proposals as labels: the next version (validated as any taxonomy change: 400 naming the
    field, e.g. a name the taxonomy already has)."""
    current = [lab.public() for lab in classifier.taxonomy.labels]
    added = _accepted(body)
    updated = await taxonomies.update(
        classifier.org_id, classifier.project_id, classifier.id, {"labels": current + added}, user_id
    )
    return {"added": [a["name"] for a in added], "classifier": updated.public()}
