"""Prompt and function flows of the real braintrust SDK, run in a subprocess against Loopline.

Usage: python function_flows.py <flow> <project-name> [arg]; prints one JSON object on the last
line of stdout. Needs BRAINTRUST_API_URL, BRAINTRUST_APP_URL and BRAINTRUST_API_KEY.
`publish` and `parameters` need an SDK with `projects.create(...).publish()` (0.47); `load` and
`load_version` run on every SDK that has `load_prompt` (0.34 too).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import braintrust

CHAT_MESSAGES = [
    {"role": "system", "content": "You answer for {{metadata.user}}."},
    {"role": "user", "content": "Question: {{input.question}}"},
]
TOOL = {
    "type": "function",
    "function": {"name": "lookup", "description": "look a word up", "parameters": {"type": "object"}},
}


def flow_publish(project: str) -> dict[str, Any]:
    p = braintrust.projects.create(name=project)
    p.prompts.create(
        name="Chat Prompt",
        slug="chat-prompt",
        description="a chat prompt",
        messages=CHAT_MESSAGES,  # type: ignore[arg-type]
        model="gpt-4o-mini",
        params={"temperature": 0.1, "max_tokens": 64, "use_cache": True},
        tools=[TOOL],  # type: ignore[list-item]
        metadata={"owner": "me"},
        tags=["t1"],
        if_exists="replace",
    )
    p.prompts.create(
        name="Completion Prompt",
        slug="completion-prompt",
        prompt="Complete this: {{input}}",
        model="gpt-4o-mini",
        if_exists="replace",
    )
    p.scorers.create(
        name="Is Polite",
        slug="is-polite",
        messages=[{"role": "user", "content": "Is this polite? {{output}} Answer Y or N."}],
        model="gpt-4o-mini",
        use_cot=True,
        choice_scores={"Y": 1, "N": 0},
        if_exists="replace",
    )
    main_prompt = {
        "prompt": {"type": "chat", "messages": [{"role": "user", "content": "{{input}}"}]},
        "options": {"model": "gpt-4o-mini"},
    }
    p.parameters.create(
        name="My Params",
        slug="my-params",
        schema={
            "model": {"type": "model", "default": "gpt-4o-mini"},
            "main": {"type": "prompt", "default": main_prompt},  # type: ignore[typeddict-item]
        },
        if_exists="replace",
    )
    return {"published": p.publish()}


def _prompt_out(prompt: Any, **build_args: Any) -> dict[str, Any]:
    built = prompt.build(**build_args)
    built.pop("span_info", None)
    return {"id": prompt.id, "version": prompt.version, "slug": prompt.slug, "built": built}


def flow_load(project: str) -> dict[str, Any]:
    chat = braintrust.load_prompt(project=project, slug="chat-prompt")
    out: dict[str, Any] = {"chat": _prompt_out(chat, input={"question": "2+2?"}, metadata={"user": "u1"})}
    out["chat"].update(name=chat.name, description=chat.description, tags=chat.tags)
    by_id = braintrust.load_prompt(id=chat.id)
    out["by_id"] = _prompt_out(by_id, input={"question": "by id"}, metadata={"user": "u2"})
    completion = braintrust.load_prompt(project=project, slug="completion-prompt")
    out["completion"] = _prompt_out(completion, input="the sky is")
    scorer = braintrust.load_prompt(project=project, slug="is-polite")
    out["scorer"] = _prompt_out(scorer, output="thank you kindly")
    return out


def flow_load_version(project: str, version: str) -> dict[str, Any]:
    latest = braintrust.load_prompt(project=project, slug="chat-prompt")
    old = braintrust.load_prompt(project=project, slug="chat-prompt", version=version)
    args = {"input": {"question": "q"}, "metadata": {"user": "u"}}
    return {"latest": _prompt_out(latest, **args), "old": _prompt_out(old, **args)}


def flow_parameters(project: str) -> dict[str, Any]:
    params = braintrust.load_parameters(project=project, slug="my-params")
    p = params if isinstance(params, dict) else vars(params)
    return {k: p.get(k) for k in ("id", "name", "slug", "version", "schema", "data")}


def flow_missing(project: str) -> dict[str, Any]:
    try:
        braintrust.load_prompt(project=project, slug="no-such-prompt").build()
    except Exception as exc:  # the SDK raises when the server lists nothing
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"error": None}


def main() -> None:
    flow, project, *rest = sys.argv[1:]
    out = globals()[f"flow_{flow}"](project, *rest)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
