"""The agent's tools: an explicit tuple (the order the model sees them), and which are offered on
which page (as in Loop, availability follows the page in view).

Not here yet (they come with the evaluator's APIs): edit prompt, run eval, get scorers, edit
scorers, create code scorer, create LLM-judge scorer."""

from __future__ import annotations

from loopline.loop_agent.page import PageKind
from loopline.loop_agent.tools import (
    analyze,
    blast_radius,
    btql_query,
    create_dataset,
    data_source,
    detailed_results,
    edit_data,
    infer_schema,
    intent_distribution,
    run_btql,
    search_docs,
    summarized_results,
)
from loopline.loop_agent.tools.base import Tool

TOOLS: tuple[Tool, ...] = (
    summarized_results.TOOL,
    detailed_results.TOOL,
    analyze.TOOL,
    btql_query.TOOL,
    run_btql.TOOL,
    infer_schema.TOOL,
    data_source.TOOL,
    create_dataset.TOOL,
    edit_data.TOOL,
    search_docs.TOOL,
    intent_distribution.TOOL,
    blast_radius.TOOL,
)
BY_NAME = {t.name: t for t in TOOLS}

_EVERYWHERE = frozenset(t.name for t in TOOLS)
#: tools offered per page (anything not listed: all of them)
_BY_PAGE: dict[PageKind, frozenset[str]] = {
    "btql": frozenset(
        {"run_btql", "infer_schema", "get_data_source", "create_dataset_from_query", "search_docs"}
    ),
}


def available(page: PageKind) -> tuple[Tool, ...]:
    names = _BY_PAGE.get(page, _EVERYWHERE)
    return tuple(t for t in TOOLS if t.name in names)
