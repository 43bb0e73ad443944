"""The BTQL of the pre-canned analyses: pure functions from parameters to query text.

Every query reads one project's logs over a window of the last `days` days (`created > now() -
interval N day`, which also lets the store skip old parts). Nothing here runs anything."""

from __future__ import annotations

from dataclasses import dataclass

#: what counts as a context-window overflow, in the error text of a span (case-insensitive)
CONTEXT_OVERFLOW_PATTERNS = (
    "%context_length_exceeded%",
    "%maximum context length%",
    "%context window%",
    "%prompt is too long%",
    "%too many tokens%",
)
#: provider error kinds, in the order they are tested (the first match wins), with their patterns
PROVIDER_ERROR_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("quota", ("%insufficient_quota%", "%exceeded your current quota%", "%quota exceeded%", "%billing%")),
    ("context_overflow", CONTEXT_OVERFLOW_PATTERNS),
    ("rate_limit", ("%rate limit%", "%rate_limit%", "%too many requests%", "%error code: 429%")),
    ("overload", ("%overloaded%", "%error code: 529%", "%error code: 503%", "%over capacity%")),
)
FALLBACK_PROVIDER_ERROR = "api_failure"

#: the metric expression of each outlier kind
OUTLIER_METRICS = {"latency": "metrics.end - metrics.start", "tokens": "metrics.tokens"}

#: the intent label of a classified root span (the classifier's shape: `classifications.<facet>` is an
#: array of `{id, label, confidence, source}`, the first is the decision)
INTENT = "classifications.Intent[0].label"


def facet_label(facet: str = "Intent") -> str:
    """The label of a classified root span for a facet (`classifications.<facet>[0].label`)."""
    if not facet.isidentifier():
        raise ValueError(f"facet {facet!r} is not a field name (letters, digits, _)")
    return f"classifications.{facet}[0].label"


def literal(text: str) -> str:
    """A BTQL string literal (single-quoted; a quote inside is doubled)."""
    return "'" + text.replace("'", "''") + "'"


def number(value: float) -> str:
    return repr(float(value))


@dataclass(frozen=True)
class Window:
    project_id: str
    days: int = 7

    @property
    def source(self) -> str:
        return f"from: project_logs({literal(self.project_id)})"

    def since(self, days: int | None = None) -> str:
        return f"created > now() - interval {int(days if days is not None else self.days)} day"


def _any_ilike(expr: str, patterns: tuple[str, ...]) -> str:
    return "(" + " or ".join(f"{expr} ILIKE {literal(p)}" for p in patterns) + ")"


def errors_by_span_name(w: Window) -> str:
    return (
        f"dimensions: span_attributes.name as name | measures: count(1) as total, count(error) as errors "
        f"| {w.source} | filter: {w.since()} | sort: errors desc"
    )


def traces_by_intent(w: Window, facet: str = "Intent") -> str:
    """Root spans (traces) per intent label (null: not classified)."""
    return (
        f"dimensions: {facet_label(facet)} as intent | measures: count(1) as traces "
        f"| {w.source} | filter: is_root and {w.since()}"
    )


def failed_traces_by_intent(w: Window, facet: str = "Intent") -> str:
    """Traces of the window with an error in any span, per intent (the *trace* blast radius,
    blast_radius.py): their roots (which carry the label), filtered by `any_span` (a span of the
    same trace failed). A trace's spans start with
    or after its root, so the failing span is looked for in the window too (the store skips the
    older parts)."""
    return (
        f"dimensions: {facet_label(facet)} as intent | measures: count(1) as failed "
        f"| {w.source} | filter: is_root and {w.since()} and any_span(error IS NOT NULL and {w.since()})"
    )


def tool_calls_by_week(w: Window) -> str:
    """Tool spans of the last two windows, per tool and window ('current' / 'previous')."""
    return (
        f"dimensions: span_attributes.name as tool, ({w.since()} ? 'current' : 'previous') as period "
        f"| measures: count(1) as calls, count(error) as failures "
        f"| {w.source} | filter: span_attributes.type = 'tool' and {w.since(2 * w.days)}"
    )


def _overflow_filter(w: Window) -> str:
    return f"{w.since()} and error IS NOT NULL and {_any_ilike('error', CONTEXT_OVERFLOW_PATTERNS)}"


def context_overflow_counts(w: Window) -> str:
    return (
        f"dimensions: metadata.model as model | measures: count(1) as incidents, "
        f"count_distinct(root_span_id) as traces | {w.source} | filter: {_overflow_filter(w)} "
        f"| sort: incidents desc"
    )


def context_overflow_incidents(w: Window, limit: int) -> str:
    return (
        f"select: id, root_span_id, span_attributes.name as name, metadata.model as model, created, "
        f"metrics.prompt_tokens as prompt_tokens, error | {w.source} | filter: {_overflow_filter(w)} "
        f"| sort: created desc | limit: {int(limit)}"
    )


def provider_error_kind() -> str:
    """A BTQL expression naming the kind of an LLM span's error."""
    expr = literal(FALLBACK_PROVIDER_ERROR)
    for kind, patterns in reversed(PROVIDER_ERROR_KINDS):
        expr = f"({_any_ilike('error', patterns)} ? {literal(kind)} : {expr})"
    return expr


def provider_errors(w: Window) -> str:
    return (
        f"dimensions: {provider_error_kind()} as kind, metadata.provider as provider, metadata.model as model "
        f"| measures: count(1) as errors | {w.source} "
        f"| filter: span_attributes.type = 'llm' and error IS NOT NULL and {w.since()} | sort: errors desc"
    )


def llm_calls(w: Window) -> str:
    return (
        f"dimensions: metadata.provider as provider, metadata.model as model | measures: count(1) as calls "
        f"| {w.source} | filter: span_attributes.type = 'llm' and {w.since()}"
    )


def metric_stats(w: Window, metrics: tuple[str, ...]) -> str:
    """n, mean, p50, p95 and max of each metric (`<metric>_n`, ...), in one scan: a span without a
    metric is null there, which the aggregates skip."""
    measures = ", ".join(
        f"count({e}) as {m}_n, avg({e}) as {m}_mean, percentile({e}, 0.5) as {m}_p50, "
        f"percentile({e}, 0.95) as {m}_p95, max({e}) as {m}_max"
        for m, e in ((m, OUTLIER_METRICS[m]) for m in metrics)
    )
    return f"measures: {measures} | {w.source} | filter: {w.since()}"


def metric_outliers(w: Window, metric: str, threshold: float, limit: int) -> str:
    expr = OUTLIER_METRICS[metric]
    return (
        f"select: id, root_span_id, span_attributes.name as name, metadata.model as model, created, "
        f"{expr} as value | {w.source} | filter: {expr} > {number(threshold)} and {w.since()} "
        f"| sort: value desc | limit: {int(limit)}"
    )


def metric_outlier_count(w: Window, thresholds: dict[str, float]) -> str:
    """Spans above each metric's threshold (`<metric>`), in one scan."""
    above = {m: f"{OUTLIER_METRICS[m]} > {number(t)}" for m, t in thresholds.items()}
    measures = ", ".join(f"sum(({cond}) ? 1 : 0) as {m}" for m, cond in above.items())
    anywhere = " or ".join(f"({cond})" for cond in above.values())
    return f"measures: {measures} | {w.source} | filter: {w.since()} and ({anywhere})"


def intents_by_period(w: Window, facet: str = "Intent") -> str:
    return (
        f"dimensions: {facet_label(facet)} as intent, ({w.since()} ? 'current' : 'previous') as period "
        f"| measures: count(1) as traces | {w.source} | filter: is_root and {w.since(2 * w.days)}"
    )


#: span groups whose errors `errors_by_group` counts: (the group's expression, the spans' filter)
SPAN_GROUPS = {
    "span_name": ("span_attributes.name", None),
    "tool": ("span_attributes.name", "span_attributes.type = 'tool'"),
    "model": ("metadata.model", "span_attributes.type = 'llm'"),
}


def errors_by_group(w: Window, by: str) -> str:
    """Spans and failed spans per group (`SPAN_GROUPS`) in the window (the *span* blast radius,
    blast_radius.py)."""
    expr, only = SPAN_GROUPS[by]
    where = f"{only} and {w.since()}" if only else w.since()
    return (
        f"dimensions: {expr} as name | measures: count(1) as total, count(error) as errors "
        f"| {w.source} | filter: {where} | sort: errors desc"
    )
