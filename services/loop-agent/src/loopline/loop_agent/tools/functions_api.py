"""What the evaluator tools share: the evaluator's prompt/function API (`/v1/prompt`,
`/v1/function`, called as the caller), the global scorers every project has (autoevals by name),
and scorer references as `/v1/eval` takes them."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from loopline.loop_agent.tools.base import ToolContext, ToolFailed

#: autoevals scorers the evaluator's runner knows by name (`{"global_function": name}`; its
#: runtime/scorers.py `known_names`, matched case- and punctuation-insensitively)
GLOBAL_SCORERS = (
    "ExactMatch",
    "Levenshtein",
    "NumericDiff",
    "JSONDiff",
    "ValidJSON",
    "ListContains",
    "EmbeddingSimilarity",
    "Factuality",
    "ClosedQA",
    "Battle",
    "Humor",
    "Security",
    "Sql",
    "Summary",
    "Translation",
    "Possible",
    "Moderation",
)


def _canonical(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_GLOBAL_BY_KEY = {_canonical(n): n for n in GLOBAL_SCORERS}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def slug_of(name: str) -> str:
    """A slug from a name, as the SDK derives one."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "scorer"


async def project_functions(
    ctx: ToolContext, project_id: str, function_type: str | None = None, slug: str | None = None
) -> list[dict[str, Any]]:
    q: dict[str, Any] = {"project_id": project_id, "limit": 200}
    if function_type:
        q["function_type"] = function_type
    if slug:
        q["slug"] = slug
    body = await ctx.call("GET", "/v1/function?" + urlencode(q))
    return list(body.get("objects") or []) if isinstance(body, dict) else []


def kind_of(fn: dict[str, Any]) -> str:
    fd = fn.get("function_data") or {}
    if fd.get("type") == "code":
        return "code"
    if fd.get("type") == "prompt":
        parser = (fn.get("prompt_data") or {}).get("parser") or {}
        return "llm_judge" if parser.get("type") == "llm_classifier" else "prompt"
    return str(fd.get("type") or "unknown")


def describe_function(fn: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    """A function as the model sees it: what it is and, with `full`, how it works."""
    out: dict[str, Any] = {
        "id": fn.get("id"),
        "name": fn.get("name"),
        "slug": fn.get("slug"),
        "kind": kind_of(fn),
        "description": fn.get("description"),
        "version": fn.get("_xact_id"),
    }
    pd = fn.get("prompt_data") or {}
    if pd:
        out["model"] = (pd.get("options") or {}).get("model")
        parser = pd.get("parser") or {}
        if parser.get("choice_scores"):
            out["choice_scores"] = parser["choice_scores"]
        if full:
            out["prompt"] = pd.get("prompt")
            out["params"] = (pd.get("options") or {}).get("params")
    data = (fn.get("function_data") or {}).get("data") or {}
    if full and data.get("type") == "inline":
        out["code"] = data.get("code")
        out["runtime"] = data.get("runtime_context")
    return out


async def scorer_refs(ctx: ToolContext, project_id: str, names: list[str]) -> list[dict[str, Any]]:
    """Scorer names as `/v1/eval` references: a project scorer by id or slug, else a global scorer
    by name; `ToolFailed` naming what matches nothing."""
    if not names:
        raise ToolFailed("no scorers: give at least one (get_scorers lists them)")
    stored = await project_functions(ctx, project_id, "scorer")
    by_key = {str(f["id"]): f for f in stored} | {str(f["slug"]): f for f in stored}
    refs: list[dict[str, Any]] = []
    unknown = []
    for n in names:
        if n in by_key:
            refs.append({"function_id": by_key[n]["id"]})
        elif _canonical(n) in _GLOBAL_BY_KEY:
            refs.append({"global_function": _GLOBAL_BY_KEY[_canonical(n)]})
        elif _UUID.match(n):  # a function of another project of the org (the evaluator checks it)
            refs.append({"function_id": n})
        else:
            unknown.append(n)
    if unknown:
        raise ToolFailed(
            f"no scorer named {', '.join(map(repr, unknown))} in this project and no global scorer of that "
            f"name (project scorers: {', '.join(sorted(str(f['slug']) for f in stored)) or 'none'}; global: "
            f"{', '.join(GLOBAL_SCORERS)})"
        )
    return refs


async def existing(ctx: ToolContext, project_id: str, slug: str) -> dict[str, Any] | None:
    found = await project_functions(ctx, project_id, slug=slug)
    return found[0] if found else None
