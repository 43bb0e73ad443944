"""Every example query of the spec (§10) parses, binds, compiles — and the SQL runs on ClickHouse."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from loopline.btql import BindError, Scope, compile_query, parse, source_of

EXAMPLES: list[tuple[int, str]] = [
    (1, "select: * | from: project_logs('<YOUR_PROJECT_ID>') | filter: tags includes 'triage'"),
    (
        2,
        "select: *\nfrom: project_logs('<PROJECT_ID>') spans\nfilter: scores.Factuality > 0.8\nsample: 25%\nsort: created desc\nlimit: 100\ncursor: '<CURSOR>'",
    ),
    (
        3,
        "select: metadata.model as model, scores.Factuality as score, created as timestamp\nfrom: project_logs('my-project-id')",
    ),
    (
        4,
        'select: metadata.model, metrics.tokens > 1000 as is_long_response, (scores.Factuality > 0.8 ? "high" : "low") as quality\nfrom: project_logs(\'my-project-id\')',
    ),
    (
        5,
        "select: day(created) as date, hour(created) as hour, round(scores.Factuality, 2) as rounded_score\nfrom: project_logs('my-project-id')",
    ),
    (
        6,
        "select: *\nfrom: project_logs('my-project-id') spans\nfilter: span_attributes.type = 'llm' and metrics.time_to_first_token > 0.1\nlimit: 10",
    ),
    (
        7,
        "select: *\nfrom: project_logs('my-project-id')\nfilter: scores.Factuality > 0.8 and metadata.model = \"gpt-4\" and tags includes \"triage\" and input ILIKE '%question%' and created > '2024-01-01' and (metrics.tokens > 1000 or metadata.is_production = true)",
    ),
    (8, "filter: input ILIKE '%question%'"),
    (9, "filter: input LIKE 'How%'"),
    (10, "filter: metadata.email ILIKE '%@braintrust.com'"),
    (11, "filter: metadata.description LIKE '%50\\% off%'"),
    (12, "sort: scores.Factuality desc, created asc"),
    (13, "sort: len(tags) desc"),
    (
        14,
        "select: *\nfrom: project_logs('<PROJECT_ID>')\nfilter: scores.Factuality < 0.5 and metadata.is_production = true and created > now() - interval 1 day\nsort: scores.Factuality asc\nlimit: 100",
    ),
    (
        15,
        'select: *\nfrom: project_logs(\'<PROJECT_ID>\')\nfilter: metadata.model IN ["gpt-4", "gpt-4-turbo", "claude-3-opus"] and scores.Factuality IS NOT NULL and created > now() - interval 7 day\nsort: scores.Factuality desc\nlimit: 500',
    ),
    (
        16,
        'select: *\nfrom: project_logs(\'<PROJECT_ID>\')\nfilter: error IS NOT NULL and error.type NOT IN ["rate_limit", "timeout", "network_error"] and metadata.is_production = true and created > now() - interval 1 day\nsort: created desc\nlimit: 100',
    ),
    (
        17,
        "select: metadata.endpoint, metrics.latency, metrics.tokens, input, created\nfrom: project_logs('<PROJECT_ID>')\nfilter: metrics.latency > 5000 and created > now() - interval 1 hour\nsort: metrics.latency desc\nlimit: 20",
    ),
    (
        18,
        "select: *\nfrom: project_logs('<PROJECT_ID>')\nfilter: input MATCH 'explain the concept of recursion' and scores.Factuality > 0.8\nsort: created desc\nlimit: 10",
    ),
    (
        19,
        "select: created, tags, metadata.model, scores.Factuality, response\nfrom: project_logs('<PROJECT_ID>')\nfilter: tags includes 'needs-review' and NOT tags includes 'resolved' and created > now() - interval 1 day\nsort: scores.Factuality asc",
    ),
    (20, "select: *\nfrom: project_logs('my-project-id')\nfilter: created > now() - interval 1 day"),
    (
        21,
        "select: *\nfrom: project_logs('my-project-id')\nfilter: created > now() - interval 1 hour and created < now()",
    ),
    (
        22,
        "SELECT * FROM project_logs('my-project-id') WHERE created < now() - interval 7 day AND created > now() - interval 1 month",
    ),
    (
        23,
        "select: * | from: project_logs('p1') spans | limit: 1000 | sort: _pagination_key DESC | filter: created >= NOW() - INTERVAL 86400 SECOND",
    ),
    (24, 'created >= "2025-01-01T00:00:00Z"'),
    (
        25,
        "select: id, created + interval 30 minute as deadline | from: experiment('e1') | filter: created + interval 30 minute < now()",
    ),
    (
        26,
        "dimensions: metadata.model as model, day(created) as date\nmeasures: count(1) as total_calls, avg(scores.Factuality) as avg_score, percentile(latency, 0.95) as p95_latency\nfrom: project_logs('my-project-id')",
    ),
    (
        27,
        "from: project_logs('<YOUR_PROJECT_ID>')\nfilter: created > '<ISO_8601_TIME>'\ndimensions: day(created) as time\nmeasures: sum(metrics.total_tokens) as total_tokens, sum(metrics.prompt_tokens) as input_tokens, sum(metrics.completion_tokens) as output_tokens\nsort: time asc",
    ),
    (
        28,
        "dimensions: metadata.model as model, day(created) as date\nmeasures: avg(scores.Factuality) as avg_factuality, percentile(scores.Factuality, 0.05) as p05_factuality, percentile(scores.Factuality, 0.95) as p95_factuality, count(1) as total_calls\nfilter: created > '2024-01-01'\nsort: date desc, model asc",
    ),
    (
        29,
        "dimensions: metadata.model as model, hour(created) as hour\nmeasures: count(1) as total, count(error) as errors, count(error) / count(1) as error_rate\nfilter: created > now() - interval 1 day\nsort: error_rate desc",
    ),
    (
        30,
        "dimensions: error.type as error_type, metadata.model as model\nmeasures: count(1) as error_count, avg(metrics.latency) as avg_latency\nfilter: error IS NOT NULL and created > now() - interval 7 day\nsort: error_count desc",
    ),
    (
        31,
        "dimensions: metadata.endpoint as endpoint, hour(created) as hour\nmeasures: percentile(metrics.latency, 0.95) as p95_latency, percentile(metrics.latency, 0.50) as median_latency, count(1) as requests\nfilter: created > now() - interval 1 day\nsort: hour desc, p95_latency desc",
    ),
    (
        32,
        "dimensions: metadata.prompt_template as template, day(created) as date\nmeasures: avg(metrics.prompt_tokens) as avg_prompt_tokens, avg(metrics.completion_tokens) as avg_completion_tokens, avg(metrics.completion_tokens) / avg(metrics.prompt_tokens) as token_efficiency, avg(scores.Factuality) as avg_factuality\nfilter: created > now() - interval 7 day\nsort: date desc, token_efficiency desc",
    ),
    (
        33,
        "dimensions: tags[0] as primary_tag, metadata.model as model\nmeasures: count(1) as feedback_count, avg(scores.Factuality > 0.8 ? 1 : 0) as high_quality_rate\nfilter: tags includes 'feedback' and created > now() - interval 30 day\nsort: feedback_count desc",
    ),
    (
        34,
        "from: project_logs('p1') | filter: created > now() - interval 7 day | dimensions: metadata.model as model | measures: avg(scores.Factuality) as avg_score, count(1) as total_calls | final_filter: avg_score > 0.8 and total_calls > 100 | sort: avg_score desc",
    ),
    (
        35,
        "from: project_logs('p1') | filter: created > now() - interval 7 day | measures: count(1) as n, count_distinct(root_span_id) as traces, max(_xact_id) as head",
    ),
    (
        36,
        "from: project_logs('p1') | filter: created > now() - interval 1 day | dimensions: date_trunc('week', created) as wk | measures: sum(estimated_cost()) as cost | sort: wk asc",
    ),
    (37, "from: dataset('d1') | measures: min(created) as first, max(created) as last, count(1) as n"),
    (
        38,
        "from: project_logs('p1') | filter: created > now() - interval 1 day | dimensions: metadata.model as model | measures: any_value(input) as example_input | limit: 5",
    ),
    (
        39,
        "select: *\nfrom: project_logs('my-project-id') traces\nfilter: root_span_id = 'trace-id' and error IS NOT NULL",
    ),
    (40, 'filter: any_span(tags includes "production") and any_span(error IS NOT NULL)'),
    (
        41,
        "select: *\n| from: project_logs('<PROJECT_ID>') traces\n| filter: ANY_SPAN(tags INCLUDES 'content-change') AND ANY_SPAN(scores.\"email sent\" IS NOT NULL) AND created > now() - interval 7 day\n| limit: 100",
    ),
    (
        42,
        "select: *\n| from: project_logs('<PROJECT_ID>') summary\n| filter: ANY_SPAN(tags INCLUDES 'production') AND ANY_SPAN(scores.\"Email Draft vs Sent Similarity\" IS NOT NULL) AND created > now() - interval 7 day\n| sort: created DESC\n| limit: 50",
    ),
    (43, "select: *\nfrom: project_logs('my-project-id') summary\npreview_length: 1024\nlimit: 10"),
    (
        44,
        "from: project_logs('my-project-id') summary\ndimensions: metadata.model as model, day(created) as date\nmeasures: count(1) as trace_count, avg(scores.Factuality) as avg_score, avg(metrics.estimated_cost) as avg_cost\nsort: date desc",
    ),
    (
        45,
        "from: experiment('<EXPERIMENT_ID_1>', '<EXPERIMENT_ID_2>') summary\ndimensions: metadata.workflow_type as workflow, origin.experiment_id as experiment\nmeasures: count(1) as trace_count, avg(metrics.estimated_cost) as avg_cost, avg(scores.Success) as success_rate",
    ),
    (
        46,
        "WHERE NOT ANY_SPAN(span_attributes.type = 'score' AND ANY_SPAN(span_attributes.name = 'null_score'))",
    ),
    (
        47,
        "select: id, span_attributes.name, scores | from: project_logs('p1') traces | filter: created > now() - interval 1 day and FILTER_SPANS(span_attributes.type = 'score')",
    ),
    (
        48,
        "select: * | from: project_logs('p1') traces | filter: created > now() - interval 1 day and any_span(is_root and error IS NOT NULL)",
    ),
    (
        49,
        "select: * | from: project_logs('p1') summary | filter: (created >= NOW() - INTERVAL 3600 SECOND) AND (input MATCH 'hello' OR expected MATCH 'hello' OR metadata MATCH 'hello' OR tags MATCH 'hello' OR output MATCH 'hello' OR span_attributes MATCH 'hello') | preview_length: 125 | sort: _pagination_key DESC | limit: 10",
    ),
    (50, "select: * | from: project_logs('p1') spans | filter: id = 'row-1' | preview_length: -1 | limit: 1"),
    (51, "select: id, score, value\nfrom: project_logs('my-project-id')\nunpivot: scores as (score, value)"),
    (52, "select: id, tag\nfrom: project_logs('my-project-id')\nunpivot: tags as (tag)"),
    (
        53,
        "select: score, tag\nfrom: project_logs('my-project-id')\nunpivot: scores as (score, value), tags as (tag)",
    ),
    (
        54,
        "dimensions: score\nmeasures: avg(value) as avg_value, count(1) as count\nfrom: project_logs('my-project-id')\nunpivot: scores as (score, value)\nsort: avg_value desc",
    ),
    (
        55,
        "dimensions: score\nmeasures: sum(value) as sum_value\nfrom: project_logs('my-project-id')\nunpivot: scores as (score, value)\npivot: sum_value",
    ),
    (
        56,
        "dimensions: day(created) as date, metadata.model as model\nmeasures: avg(scores.Factuality) as factuality\nfrom: project_logs('my-project-id')\npivot: factuality",
    ),
    (
        57,
        "dimensions: day(created) as date\nmeasures: avg(scores.Factuality) as avg_factuality, count(1) as call_count\nfrom: project_logs('my-project-id')\nfilter: metadata.model IN ['gpt-4', 'gpt-3.5-turbo']\npivot: avg_factuality, call_count",
    ),
    (
        58,
        "dimensions: classification.label as topic | measures: count(1) as n | from: project_logs('p1') | filter: created >= now() - interval 3 day | unpivot: classifications.Issues as (classification)",
    ),
    (
        59,
        "select: id, json_extract(metadata.config, 'api_key') as api_key\nfrom: project_logs('my-project-id')",
    ),
    (
        60,
        "select: id, json_extract(metadata.settings, 'user.preferences.theme') as theme_key\nfrom: project_logs('my-project-id')",
    ),
    (
        61,
        "select: *\nfrom: project_logs('my-project-id')\nfilter: json_extract(metadata.config, 'environment') = 'production' and json_extract(metadata.config, 'version') > 2.0",
    ),
    (
        62,
        'select: (scores.Factuality > 0.9 ? "excellent" : scores.Factuality > 0.7 ? "good" : scores.Factuality > 0.5 ? "fair" : "poor") as rating\nfrom: project_logs(\'my-project-id\')',
    ),
    (
        63,
        "select: (metadata.model = \"gpt-4\" ? metrics.tokens * 2 : metrics.tokens) as adjusted_tokens, (error IS NULL ? metrics.latency : 0) as valid_latency\nfrom: project_logs('my-project-id')",
    ),
    (64, 'metrics.tokens > (metadata.model = "gpt-4-turbo" ? 1000 : 500)'),
    (65, 'tags includes "triage" and NOT tags includes "triaged"'),
    (
        66,
        'select: metadata."field name", metadata."field-name", metadata."field.name", metadata.models[0].name, responses[-1].tokens | from: project_logs(\'p1\') | filter: created > now() - interval 1 day',
    ),
    (
        67,
        "select: id | from: project_logs('p1') | filter: created > now() - interval 1 day and metadata.customer = 'O''Brien'",
    ),
    (
        68,
        "select: coalesce(metadata.model, 'unknown') as model, nullif(metadata.env, '') as env, least(scores.A, scores.B) as worst | from: experiment('e1')",
    ),
    (
        69,
        "select: id | from: project_logs('p1') | filter: created > now() - interval 1 day and metadata.env <=> null",
    ),
    (
        70,
        "select: to_number(metadata.version) as v, to_string(scores.Factuality) as s, lower(concat(metadata.a, '-', metadata.b)) as key | from: dataset('d1')",
    ),
    (
        71,
        "from: project_logs('<id>') | filter: (span_attributes.type = 'llm' or span_attributes.type = 'tool') and metadata.\"flue.instance_id\" is not null and created < '<ts>' | sort: created desc | limit: 1000 | select: created, root_span_id, span_attributes.type as type, metadata.\"flue.instance_id\" as instance, metadata.model as model, metrics.prompt_tokens as prompt, metrics.estimated_cost as cost",
    ),
    (
        72,
        "select: * | from: project_logs('p1') | filter: created > now() - interval 1 day and search('timeout') and metadata.environment = 'production'",
    ),
    (
        73,
        "select: span_id, span_parents, root_span_id, name | from: project_logs('f1e858a4-58e3-408f-983f-016760d7fa25') | filter: root_span_id = '133e2cc38aad8dad33bc2f27e680e6df'",
    ),
    (74, "select: *\nfrom: project_logs('<PROJECT_ID>')\nlimit: 100\ncursor: '<CURSOR_TOKEN>'"),
    (
        75,
        "select: *\nfrom: project_logs('<PROJECT_ID>')\nfilter: created < '2024-01-15T10:30:00Z'\nsort: created desc\nlimit: 100",
    ),
    (
        76,
        "select: id, span_id, root_span_id, _pagination_key, _xact_id, created, span_parents, span_attributes, metadata.model, error, scores, metrics | from: project_logs('p1') spans | filter: root_span_id = 'root-1' | preview_length: 125 | sort: _pagination_key ASC | limit: 100 | cursor: \"abc\"",
    ),
    (
        77,
        "select: * | from: project_logs('p1') | filter: created > now() - interval 7 day | sample: 10% | limit: 1000",
    ),
    (
        78,
        "select: * | from: project_logs('p1') spans | filter: created > now() - interval 7 day | sample: 200",
    ),
    (79, "select: * | from: project_prompts('proj1') | filter: id = 'prompt-123'"),
    (
        80,
        "select: input, expected, metadata | from: dataset('d1', 'd2') | filter: metadata.split = 'test' | limit: 1000",
    ),
    (81, "select: input, expected, metadata | from: project_dataset('<PROJECT_ID>', '<DATASET_ID>')"),
    (
        82,
        "select: * | from: project_logs('p1') spans | filter: (root_span_id IN ['r1', 'r2']) AND (metadata.topic = 'test') | limit: 100 | sort: _pagination_key ASC",
    ),
]

_FILTER_FRAGMENTS = {24, 64, 65}  # bare expressions
_CLAUSE_FRAGMENTS = {8, 9, 10, 11, 12, 13}  # a lone filter:/sort: clause
_PLACEHOLDER_CURSOR = {2, 74, 76}
_UNSUPPORTED_SOURCE = {79}  # project_prompts: prompts/functions are not stored in the span tables
_NO_FROM = {28, 29, 30, 31, 32, 33}  # doc snippets without from: (spec §11 #1: BindError)


def complete(n: int, text: str) -> str:
    """Turn the doc fragments into whole queries."""
    if n in _FILTER_FRAGMENTS:
        return f"select: * | from: project_logs('p1') traces | filter: {text}"
    if n == 40:
        return f"select: * | from: project_logs('p1') traces | {text}"
    if n in _CLAUSE_FRAGMENTS:
        return f"select: * | from: project_logs('p1') | {text}"
    if n == 46:
        return "SELECT * FROM project_logs('p1', shape => 'traces') " + text
    return text


def scope_for(q: Any) -> Scope:
    src = source_of(q)
    return Scope("o1", src.object_type, src.object_ids, (src.project_id,) if src.project_id else ())


CASES = [(n, complete(n, t)) for n, t in EXAMPLES]
IDS = [f"ex{n}" for n, _ in EXAMPLES]


@pytest.mark.parametrize(("n", "text"), CASES, ids=IDS)
def test_example_parses_binds_compiles(n: int, text: str) -> None:
    q = parse(text)
    if n in _NO_FROM:
        with pytest.raises(BindError, match="from"):
            source_of(q)
        q = parse(text + "\nfrom: project_logs('p1')")
    if n in _UNSUPPORTED_SOURCE:
        with pytest.raises(BindError, match="not supported"):
            source_of(q)
        return
    scope = scope_for(q)
    if n in _PLACEHOLDER_CURSOR:
        with pytest.raises(BindError, match="cursor"):
            compile_query(q, scope)
        q = dataclasses.replace(q, cursor=None)
    cq = compile_query(q, scope)
    assert cq.sql.startswith(("SELECT ", "WITH (SELECT "))  # a read-only query (traces add a WITH scalar)
    assert "{s_org:String}" in cq.sql
    # quoted user values never appear in the SQL text
    assert "'<" not in cq.sql and "gpt-4" not in cq.sql


@pytest.mark.parametrize(("n", "text"), CASES, ids=IDS)
def test_example_runs(engine: Any, n: int, text: str) -> None:
    if n in _UNSUPPORTED_SOURCE:
        return
    if n in _NO_FROM:
        text = text + "\nfrom: project_logs('p1')"
    q = parse(text)
    scope = scope_for(q)
    if n in _PLACEHOLDER_CURSOR:
        q = dataclasses.replace(q, cursor=None)
    page = engine.run(q, scope)
    assert isinstance(page.data, list)
    for r in page.data:
        assert "SECRET" not in repr(r)


_SEEDED_IDS = {"project_logs": ("p1",), "experiment": ("e1",), "dataset": ("d1",)}


@pytest.mark.parametrize(("n", "text"), CASES, ids=IDS)
def test_example_runs_on_seeded_data(engine: Any, n: int, text: str) -> None:
    """The same queries pointed at the seeded objects, so every expression meets real rows."""
    if n in _UNSUPPORTED_SOURCE:
        return
    if n in _NO_FROM:
        text = text + "\nfrom: project_logs('p1')"
    from loopline.btql import ast as A

    q = parse(text)
    if n in _PLACEHOLDER_CURSOR:
        q = dataclasses.replace(q, cursor=None)
    src = source_of(q)
    assert q.from_ is not None
    ids = _SEEDED_IDS[src.object_type]
    args = tuple(A.Literal(value=i) for i in ids)
    if q.from_.name == "project_dataset":
        args = (A.Literal(value="p1"), *args)
    q = dataclasses.replace(q, from_=dataclasses.replace(q.from_, args=args))
    page = engine.run(q, scope_for(q))
    for r in page.data:
        assert "SECRET" not in repr(r)
