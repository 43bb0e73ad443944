"""Tool output the model sees is bounded: long lists are cut (saying so), then the text itself."""

from __future__ import annotations

from typing import Any

import orjson


def _text(content: Any) -> str:
    return orjson.dumps(content, default=str).decode()


def bounded_json(content: Any, max_chars: int) -> str:
    text = _text(content)
    if len(text) <= max_chars:
        return text
    if isinstance(content, dict):
        content = dict(content)
        lists = [k for k, v in content.items() if isinstance(v, list) and len(v) > 1]
        while lists and len(text) > max_chars:
            longest = max(lists, key=lambda k: len(_text(content[k])))
            items = content[longest]
            keep = max(len(items) // 2, 1)
            content[longest] = items[:keep]
            content[f"{longest}_truncated"] = f"showing {keep} of the items (output limit)"
            if keep == 1:
                lists.remove(longest)
            text = _text(content)
    if len(text) > max_chars:
        text = text[: max_chars - 60] + f'..." [cut at {max_chars} characters of {len(text)}]'
    return text
