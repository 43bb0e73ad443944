"""Blast radius — error rate x volume, "what to fix first" — has two units, named apart:

- **trace blast radius** (`TRACES`): the unit is a trace; a trace failed when *any* of its spans
  has an error in the window; a trace's label is its root span's
  `classifications.<facet>[0].label`. Per label: `traces`, `failed`, `error_rate = failed /
  traces`, `blast_radius = error_rate x volume_share` (the label's share of the window's labelled
  traces), computed from `queries.traces_by_intent` and `queries.failed_traces_by_intent` by
  `results.intent_failures` and `results.blast_radius`. The classifier's label stats (the intents
  page, `loopline classifier stats`) and Loop (`blast_radius` tool by intent, the `top_errors`
  analysis) use it.
- **span blast radius** (`SPANS`): the unit is a span; a span failed when *it* has an error.
  Per group: `calls`, `errors`, `error_rate`, and `blast_radius = error_rate x calls` (= errors:
  one BTQL query has no window total to take a share of; it ranks like the share). The built-in
  "Blast radius" dashboard uses it (`span_chart`), by span name and by intent: spans that carry
  a label are root spans, so by intent it counts a trace as failed only when its *root* span has
  the error (chart "Root-span blast radius by intent"). Loop's span groups (span name, tool,
  model: `queries.errors_by_group`) count spans too, with the share-based value.

The dashboard stays per span because its query is one BTQL query that the pre-aggregated hours
can answer; a failure anywhere in a trace needs `any_span`, which they cannot. A trace whose root
succeeded while a tool in it failed is failed in the trace unit and not in the span unit
(tests/test_classifier_stats.py shows both on the same spans).
"""

from __future__ import annotations

from typing import Final, Literal

Unit = Literal["traces", "spans"]
TRACES: Final[Unit] = "traces"
SPANS: Final[Unit] = "spans"

#: a failed span, as a 0/1 value to sum
SPAN_FAILED = "(error IS NOT NULL ? 1 : 0)"


def span_chart(dim: str, where: str | None = None, limit: int = 25) -> str:
    """The span blast radius per value of `dim` (named `name`), as a chart's BTQL (no `from:`,
    no window: the dashboard adds both): calls, errors, error_rate, blast_radius, biggest first."""
    q = (
        f"dimensions: {dim} AS name | measures: count(1) AS calls, sum({SPAN_FAILED}) AS errors, "
        f"sum({SPAN_FAILED}) / count(1) AS error_rate, sum({SPAN_FAILED}) / count(1) * count(1) AS blast_radius"
    )
    if where:
        q += f" | filter: {where}"
    return q + f" | sort: blast_radius desc, calls desc | limit: {int(limit)}"
