"""Loopline's own metrics: a closed, documented set of names, exported in the Prometheus format.

Every process serves them at `/metrics` (runtime/app.py), unauthenticated and nothing else there.
The set is closed: `NAMES` below lists every metric Loopline defines, each with what it measures;
add a name here (and to its doc line) before using it anywhere. Labels are bounded by design:
topics, consumer groups, pipeline and step names, route templates (never a raw path), status codes.

    loopline_consumer_lag{topic,group}
        Messages published and not yet committed, over the partitions this process's members of
        the group own (read from each consumer at scrape time; no cost per message).
    loopline_pipeline_step_seconds{pipeline,step}                     histogram
        Time one step of a consumer pipeline spent on one batch, its own work only (the steps
        after it are timed by themselves).
    loopline_pipeline_backpressure_seconds_total{pipeline,step}       counter
        Time a step waited for room in the bounded hand-off to `step` (Rejected, then retried).
    loopline_dead_letters_total{pipeline}                             counter
        Messages a pipeline sent to the dead-letter topic (and table) as Invalid.
    loopline_bus_publish_seconds{topic,outcome}                       histogram
        Time from publish to acknowledgement (acks=all on Kafka); outcome "ok" or "unavailable".
    loopline_btql_compile_seconds                                     histogram
        BTQL text or JSON → SQL: parse, bind, compile (a cached query counts its lookup).
    loopline_btql_run_seconds                                         histogram
        Running a compiled BTQL query on the store, rows decoded.
    loopline_http_requests_total{method,route,status}                 counter
        HTTP requests answered, by route template (`/v1/{object_type}/{object_id}/insert`);
        requests that matched no route of this process (404s, the gateway's forwarded ones)
        count under route "(unmatched)".
    loopline_http_request_seconds{method,route}                       histogram
        Time to answer an HTTP request, with the same route labels.
    loopline_model_calls_total{provider_kind,operation,outcome}       counter
        Model calls made through `loopline.providers` (gateway, scorers, agents): provider kind
        (openai, anthropic, openai_compatible, azure), operation (chat, stream, embed, moderate),
        outcome ("ok" or the failure's kind: rate_limited, unavailable, timeout, ...).
    loopline_model_call_seconds{provider_kind,operation}              histogram
        Time of a model call, retries included (a stream: to its end).
    loopline_model_tokens_total{provider_kind,direction}              counter
        Tokens of answered model calls; direction "prompt" or "completion".
    loopline_model_cost_usd_total{provider_kind}                      counter
        Cost of answered model calls by the price table (models without a price add nothing).
    loopline_classifier_spans_total{outcome}                          counter
        Root spans the classifier looked at, per facet: "labelled" (a label written), "other"
        (written as other: below the facet's threshold), "no_text" (no usable text: no label),
        "unchanged" (a human label, or this version's label already there: nothing written).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Final, Literal, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

MetricName = Literal[
    "loopline_consumer_lag",
    "loopline_pipeline_step_seconds",
    "loopline_pipeline_backpressure_seconds_total",
    "loopline_dead_letters_total",
    "loopline_bus_publish_seconds",
    "loopline_btql_compile_seconds",
    "loopline_btql_run_seconds",
    "loopline_http_requests_total",
    "loopline_http_request_seconds",
    "loopline_model_calls_total",
    "loopline_model_call_seconds",
    "loopline_model_tokens_total",
    "loopline_model_cost_usd_total",
    "loopline_classifier_spans_total",
]
NAMES: Final[tuple[MetricName, ...]] = MetricName.__args__  # type: ignore[attr-defined]

PATH: Final = "/metrics"  # where every process serves them (runtime/app.py, the deploy manifests)
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
UNMATCHED_ROUTE: Final = "(unmatched)"

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `*_created` series: they would double the names outside the set
REGISTRY = CollectorRegistry(auto_describe=True)

# seconds; from a sub-millisecond step to a slow store insert
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _LaggingConsumer(Protocol):
    @property
    def lag(self) -> int: ...


class _ConsumerLag(Collector):
    """Reads `lag` from the live consumers of this process when scraped."""

    def __init__(self) -> None:
        self._consumers: weakref.WeakKeyDictionary[_LaggingConsumer, tuple[str, str]] = (
            weakref.WeakKeyDictionary()
        )

    def track(self, consumer: _LaggingConsumer, topic: str, group: str) -> None:
        self._consumers[consumer] = (topic, group)

    def untrack(self, consumer: _LaggingConsumer) -> None:
        self._consumers.pop(consumer, None)

    def describe(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "loopline_consumer_lag", _doc("loopline_consumer_lag"), labels=("topic", "group")
        )

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "loopline_consumer_lag", _doc("loopline_consumer_lag"), labels=("topic", "group")
        )
        totals: dict[tuple[str, str], int] = {}
        for consumer, labels in list(self._consumers.items()):
            try:
                lag = consumer.lag
            except Exception:  # a consumer mid-shutdown: skip it this scrape
                continue
            totals[labels] = totals.get(labels, 0) + lag
        for (topic, group), lag in sorted(totals.items()):
            family.add_metric((topic, group), lag)
        yield family


def _doc(name: MetricName) -> str:
    return _DOCS[name]


_DOCS: Final[dict[MetricName, str]] = {
    "loopline_consumer_lag": "Messages published and not yet committed by this process's group members.",
    "loopline_pipeline_step_seconds": "Time one pipeline step spent on one batch (its own work only).",
    "loopline_pipeline_backpressure_seconds_total": "Time spent waiting for room in a bounded hand-off.",
    "loopline_dead_letters_total": "Messages a pipeline sent to the dead-letter topic.",
    "loopline_bus_publish_seconds": "Time from publish to acknowledgement, by outcome (ok, unavailable).",
    "loopline_btql_compile_seconds": "Time to parse, bind and compile a BTQL query to SQL.",
    "loopline_btql_run_seconds": "Time to run a compiled BTQL query and decode its rows.",
    "loopline_http_requests_total": "HTTP requests answered, by method, route template and status.",
    "loopline_http_request_seconds": "Time to answer an HTTP request, by method and route template.",
    "loopline_model_calls_total": "Model calls, by provider kind, operation and outcome.",
    "loopline_model_call_seconds": "Time of a model call (retries included), by provider kind and operation.",
    "loopline_model_tokens_total": "Tokens of answered model calls, by provider kind and direction.",
    "loopline_model_cost_usd_total": "Cost in USD of answered model calls (priced models), by provider kind.",
    "loopline_classifier_spans_total": "Root spans the classifier looked at, by outcome (labelled, other, no_text, unchanged).",
}

_CONSUMER_LAG = _ConsumerLag()
REGISTRY.register(_CONSUMER_LAG)

PIPELINE_STEP_SECONDS = Histogram(
    "loopline_pipeline_step_seconds",
    _DOCS["loopline_pipeline_step_seconds"],
    ("pipeline", "step"),
    buckets=_BUCKETS,
    registry=REGISTRY,
)
PIPELINE_BACKPRESSURE_SECONDS = Counter(
    "loopline_pipeline_backpressure_seconds",  # the client appends _total
    _DOCS["loopline_pipeline_backpressure_seconds_total"],
    ("pipeline", "step"),
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "loopline_dead_letters",  # the client appends _total
    _DOCS["loopline_dead_letters_total"],
    ("pipeline",),
    registry=REGISTRY,
)
BUS_PUBLISH_SECONDS = Histogram(
    "loopline_bus_publish_seconds",
    _DOCS["loopline_bus_publish_seconds"],
    ("topic", "outcome"),
    buckets=_BUCKETS,
    registry=REGISTRY,
)
BTQL_COMPILE_SECONDS = Histogram(
    "loopline_btql_compile_seconds",
    _DOCS["loopline_btql_compile_seconds"],
    buckets=_BUCKETS,
    registry=REGISTRY,
)
BTQL_RUN_SECONDS = Histogram(
    "loopline_btql_run_seconds", _DOCS["loopline_btql_run_seconds"], buckets=_BUCKETS, registry=REGISTRY
)
HTTP_REQUESTS = Counter(
    "loopline_http_requests",  # the client appends _total
    _DOCS["loopline_http_requests_total"],
    ("method", "route", "status"),
    registry=REGISTRY,
)
HTTP_REQUEST_SECONDS = Histogram(
    "loopline_http_request_seconds",
    _DOCS["loopline_http_request_seconds"],
    ("method", "route"),
    buckets=_BUCKETS,
    registry=REGISTRY,
)

MODEL_CALLS = Counter(
    "loopline_model_calls",  # the client appends _total
    _DOCS["loopline_model_calls_total"],
    ("provider_kind", "operation", "outcome"),
    registry=REGISTRY,
)
MODEL_CALL_SECONDS = Histogram(
    "loopline_model_call_seconds",
    _DOCS["loopline_model_call_seconds"],
    ("provider_kind", "operation"),
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
    registry=REGISTRY,
)
MODEL_TOKENS = Counter(
    "loopline_model_tokens",  # the client appends _total
    _DOCS["loopline_model_tokens_total"],
    ("provider_kind", "direction"),
    registry=REGISTRY,
)
MODEL_COST_USD = Counter(
    "loopline_model_cost_usd",  # the client appends _total
    _DOCS["loopline_model_cost_usd_total"],
    ("provider_kind",),
    registry=REGISTRY,
)

CLASSIFIER_SPANS = Counter(
    "loopline_classifier_spans",  # the client appends _total
    _DOCS["loopline_classifier_spans_total"],
    ("outcome",),
    registry=REGISTRY,
)


def observe_model_call(
    kind: str,
    operation: str,
    outcome: str,
    seconds: float,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cost_usd: float | None = None,
) -> None:
    """One finished model call (`loopline.providers.CallRecord`, reported by its observer)."""
    MODEL_CALLS.labels(kind, operation, outcome).inc()
    MODEL_CALL_SECONDS.labels(kind, operation).observe(seconds)
    if prompt_tokens:
        MODEL_TOKENS.labels(kind, "prompt").inc(prompt_tokens)
    if completion_tokens:
        MODEL_TOKENS.labels(kind, "completion").inc(completion_tokens)
    if cost_usd:
        MODEL_COST_USD.labels(kind).inc(cost_usd)


def track_consumer(consumer: _LaggingConsumer, topic: str, group: str) -> None:
    """Report this consumer's lag under (topic, group) until it is untracked or collected."""
    _CONSUMER_LAG.track(consumer, topic, group)


def untrack_consumer(consumer: _LaggingConsumer) -> None:
    _CONSUMER_LAG.untrack(consumer)


@contextmanager
def timed_publish(topic: str) -> Iterator[None]:
    """Time a publish until it returns; a raise counts as outcome "unavailable"."""
    t0 = time.perf_counter()
    outcome = "unavailable"
    try:
        yield
        outcome = "ok"
    finally:
        BUS_PUBLISH_SECONDS.labels(topic, outcome).observe(time.perf_counter() - t0)


def observe_http(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_REQUEST_SECONDS.labels(method, route).observe(seconds)


def exposition() -> bytes:
    """Every Loopline metric of this process in the Prometheus text format."""
    return generate_latest(REGISTRY)
