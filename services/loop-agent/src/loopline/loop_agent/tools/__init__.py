"""The agent's tools: an explicit tuple (the order the model sees them), and which are offered on
which page (as in Loop, availability follows the page in view): the playground's tools (edit
prompt, edit scorers, run eval) where there is a prompt or no page, the BTQL sandbox's own set
there, everything else everywhere."""

from __future__ import annotations

from loopline.loop_agent.page import PageKind
from loopline.loop_agent.tools import (
    analyze,
    blast_radius,
    btql_query,
    create_code_scorer,
    create_dataset,
    create_llm_judge_scorer,
    data_source,
    detailed_results,
    edit_data,
    edit_prompt,
    edit_scorers,
    get_scorers,
    infer_schema,
    intent_distribution,
    run_btql,
    run_eval,
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
    get_scorers.TOOL,
    edit_scorers.TOOL,
    create_code_scorer.TOOL,
    create_llm_judge_scorer.TOOL,
    edit_prompt.TOOL,
    run_eval.TOOL,
)
BY_NAME = {t.name: t for t in TOOLS}

_ALL = frozenset(t.name for t in TOOLS)
#: the playground's tools: they act on a prompt (task), its scorer selection and its runs
_PLAYGROUND = frozenset({"edit_prompt", "edit_scorers", "run_eval"})
_VIEWING = _ALL - _PLAYGROUND  # logs, an experiment, a dataset: read, analyse, edit data, create scorers
#: tools offered per page
_BY_PAGE: dict[PageKind, frozenset[str]] = {
    "none": _ALL - {"edit_scorers"},
    "project_logs": _VIEWING,
    "experiment": _VIEWING,
    "dataset": _VIEWING,
    "btql": frozenset(
        {"run_btql", "infer_schema", "get_data_source", "create_dataset_from_query", "search_docs"}
    ),
    "playground": _ALL,
    "prompt": _ALL - {"edit_scorers"},
}


def available(page: PageKind) -> tuple[Tool, ...]:
    names = _BY_PAGE[page]
    return tuple(t for t in TOOLS if t.name in names)
