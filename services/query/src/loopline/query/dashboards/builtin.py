"""The built-in dashboards every project gets: defined here, never stored (a project sees the
current definitions), read-only (copy one into a saved dashboard to edit it). Ids start with
`builtin:`. They read only fields every SDK logs: span name/type, error, metadata.model, metrics
(tokens, cost, start/end), classifications.Intent[0].label (the classifier's decision: the facet is
an array of items, the first is the label; `classifications.Intent.label` reads the same, and
also a facet logged as an object).

The "Blast radius" dashboard is the *span* blast radius (`loopline.common.analyses.blast_radius`):
error rate x volume (errors / calls x calls) of spans, so a tool failing half of 10 calls ranks
under one failing a tenth of 10,000; by intent it counts the labelled root spans' own errors. The
intents page and Loop rank labels by the *trace* blast radius (a failure in any span of the trace).
"""

from __future__ import annotations

from loopline.common.analyses.blast_radius import span_chart
from loopline.query.dashboards.models import Chart, ChartSpec, DashboardIn, View

BUILTIN_PREFIX = "builtin:"

_OK = "(error IS NULL ? 1 : 0)"
_INTENT = "classifications.Intent[0].label"
# model/provider error kinds, from the error text (first match wins)
_KIND = (
    "(error ILIKE '%context%length%' OR error ILIKE '%context window%' OR error ILIKE '%maximum context%' "
    "OR error ILIKE '%too many tokens%' ? 'context_window' : "
    "error ILIKE '%rate limit%' OR error ILIKE '%rate_limit%' OR error ILIKE '%429%' ? 'rate_limit' : "
    "error ILIKE '%quota%' OR error ILIKE '%credit%' OR error ILIKE '%billing%' ? 'quota' : "
    "error ILIKE '%overloaded%' OR error ILIKE '%529%' OR error ILIKE '%503%' OR error ILIKE '%unavailable%' ? 'overloaded' : "
    "error ILIKE '%timeout%' OR error ILIKE '%timed out%' ? 'timeout' : "
    "error ILIKE '%auth%' OR error ILIKE '%401%' OR error ILIKE '%403%' ? 'auth' : "
    "error ILIKE '%bad request%' OR error ILIKE '%invalid%' OR error ILIKE '%400%' ? 'bad_request' : 'other')"
)
_OVERFLOW = (
    "(error ILIKE '%context%length%' OR error ILIKE '%context window%' OR error ILIKE '%maximum context%' "
    "OR error ILIKE '%too many tokens%')"
)


_DASHBOARDS: tuple[tuple[str, DashboardIn], ...] = (
    (
        "blast-radius",
        DashboardIn(
            project_id="-",
            name="Blast radius",
            description=(
                "Error rate x volume of spans: what to fix first, by span (tool) name, and by intent "
                "over the labelled root spans (the intents page counts a failure anywhere in a trace)."
            ),
            view=View(range="7d", granularity="day"),
            charts=(
                Chart(
                    id="by-span-name",
                    title="Blast radius by tool / span name",
                    query=span_chart("span_attributes.name", "span_attributes.name IS NOT NULL"),
                    spec=ChartSpec(type="bar", x="name", series=("blast_radius", "error_rate", "calls")),
                ),
                Chart(
                    id="by-intent",
                    title="Root-span blast radius by intent",
                    query=span_chart(_INTENT),
                    spec=ChartSpec(type="bar", x="name", series=("blast_radius", "error_rate", "calls")),
                ),
            ),
        ),
    ),
    (
        "tool-calls",
        DashboardIn(
            project_id="-",
            name="Tool calls",
            description="Week-over-week tool-call success.",
            view=View(range="4w", granularity="week"),
            charts=(
                Chart(
                    id="wow-success",
                    title="Tool-call success rate, week over week",
                    query=(
                        f"dimensions: week(created) AS week | measures: count(1) AS calls, sum({_OK}) AS ok, "
                        f"sum({_OK}) / count(1) AS success_rate | filter: span_attributes.type = 'tool' | sort: week"
                    ),
                    spec=ChartSpec(
                        type="line", x="week", series=("success_rate",), units="ratio", granularity="week"
                    ),
                ),
                Chart(
                    id="wow-success-by-tool",
                    title="Tool-call success by tool, week over week",
                    query=(
                        f"dimensions: week(created) AS week, span_attributes.name AS tool | measures: count(1) AS calls, "
                        f"sum({_OK}) / count(1) AS success_rate | filter: span_attributes.type = 'tool' | sort: week, tool"
                    ),
                    spec=ChartSpec(
                        type="table", x="week", series=("success_rate", "calls"), granularity="week"
                    ),
                ),
            ),
        ),
    ),
    (
        "errors",
        DashboardIn(
            project_id="-",
            name="Model errors",
            description="Context-window overflow incidents and model/provider errors by kind.",
            view=View(range="7d", granularity="hour"),
            charts=(
                Chart(
                    id="context-overflow",
                    title="Context-window overflow incidents",
                    query=f"dimensions: hour(created) AS time | measures: count(1) AS incidents | filter: {_OVERFLOW} | sort: time",
                    spec=ChartSpec(type="bar", x="time", series=("incidents",), units="count"),
                ),
                Chart(
                    id="errors-by-kind",
                    title="Model/provider errors by kind",
                    query=(
                        f"dimensions: hour(created) AS time, {_KIND} AS kind | measures: count(1) AS errors "
                        "| filter: span_attributes.type = 'llm' AND error IS NOT NULL | sort: time, kind"
                    ),
                    spec=ChartSpec(type="stacked_bar", x="time", series=("errors",), units="count"),
                ),
                Chart(
                    id="errors-by-model",
                    title="Model errors by model and kind",
                    query=(
                        f"dimensions: metadata.model AS model, {_KIND} AS kind | measures: count(1) AS errors "
                        "| filter: span_attributes.type = 'llm' AND error IS NOT NULL | sort: errors desc | limit: 50"
                    ),
                    spec=ChartSpec(type="table", x="model", series=("errors",), units="count"),
                ),
            ),
        ),
    ),
    (
        "performance",
        DashboardIn(
            project_id="-",
            name="Latency, tokens and cost",
            description="Latency percentiles over time; tokens and cost by model.",
            view=View(range="7d", granularity="hour"),
            charts=(
                Chart(
                    id="latency",
                    title="Latency p50 / p95 / p99",
                    query=(
                        "dimensions: hour(created) AS time | measures: percentile(latency, 0.5) AS p50, "
                        "percentile(latency, 0.95) AS p95, percentile(latency, 0.99) AS p99 "
                        "| filter: latency IS NOT NULL | sort: time"
                    ),
                    spec=ChartSpec(type="line", x="time", series=("p50", "p95", "p99"), units="s"),
                ),
                Chart(
                    id="tokens-by-model",
                    title="Tokens by model",
                    query=(
                        "dimensions: hour(created) AS time, metadata.model AS model | measures: "
                        "sum(metrics.prompt_tokens) AS prompt_tokens, sum(metrics.completion_tokens) AS completion_tokens, "
                        "sum(metrics.tokens) AS tokens | filter: span_attributes.type = 'llm' | sort: time, model"
                    ),
                    spec=ChartSpec(
                        type="stacked_bar",
                        x="time",
                        series=("prompt_tokens", "completion_tokens"),
                        units="tokens",
                    ),
                ),
                Chart(
                    id="cost-by-model",
                    title="Cost by model",
                    query=(
                        "dimensions: metadata.model AS model | measures: sum(metrics.estimated_cost) AS cost, "
                        "count(1) AS calls | filter: span_attributes.type = 'llm' | sort: cost desc | limit: 50"
                    ),
                    spec=ChartSpec(type="bar", x="model", series=("cost",), units="USD"),
                ),
            ),
        ),
    ),
    (
        "intents",
        DashboardIn(
            project_id="-",
            name="Intents",
            description="What users ask for: the classifier's intent labels, distribution and trend.",
            view=View(range="7d", granularity="day"),
            charts=(
                Chart(
                    id="distribution",
                    title="Intent distribution",
                    query=f"dimensions: {_INTENT} AS intent | measures: count(1) AS requests | filter: {_INTENT} IS NOT NULL | sort: requests desc | limit: 50",
                    spec=ChartSpec(type="pie", x="intent", series=("requests",), units="count"),
                ),
                Chart(
                    id="trend",
                    title="Intent trend",
                    query=(
                        f"dimensions: day(created) AS time, {_INTENT} AS intent | measures: count(1) AS requests "
                        f"| filter: {_INTENT} IS NOT NULL | sort: time, intent"
                    ),
                    spec=ChartSpec(type="line", x="time", series=("requests",), units="count"),
                ),
            ),
        ),
    ),
)

BUILTIN: dict[str, DashboardIn] = {BUILTIN_PREFIX + key: d for key, d in _DASHBOARDS}


def builtin(dashboard_id: str, project_id: str) -> DashboardIn | None:
    """The built-in dashboard `dashboard_id` as the project's (None: not a built-in id)."""
    d = BUILTIN.get(dashboard_id)
    return None if d is None else d.model_copy(update={"project_id": project_id})
