"""What dashboards and Loop read about a facet's labels: the distribution over a window and its
change against the window before (week over week with days=7), and per label the error rate and
the blast radius (error rate x volume).

One definition, shared with the Loop agent: the BTQL and the arithmetic are the Loop agent's
pre-canned analyses (`loopline.common.analyses`: `intents_by_period` → `intent_change`, and
`traces_by_intent` + `failed_traces_by_intent` → `intent_failures` → `blast_radius`), run here
for any facet through the query service as the caller. They are plain BTQL over the labels as
ordinary fields; the facet is an array, its first item is the decision:

    -- distribution, this window and the one before (days = 7: week over week)
    dimensions: classifications.Intent[0].label as intent,
                (created > now() - interval 7 day ? 'current' : 'previous') as period
    | measures: count(1) as traces | from: project_logs('<project>')
    | filter: is_root and created > now() - interval 14 day

    -- traces per label, and failed traces per label (a trace fails when any of its spans has
    -- an error; only the root carries the label, so each labelled root is one trace)
    dimensions: classifications.Intent[0].label as intent | measures: count(1) as traces
    | from: project_logs('<project>') | filter: is_root and created > now() - interval 7 day
    dimensions: classifications.Intent[0].label as intent | measures: count(1) as failed
    | from: project_logs('<project>')
    | filter: is_root and created > now() - interval 7 day
              and any_span(error IS NOT NULL and created > now() - interval 7 day)

error_rate = failed / traces; blast_radius = error_rate x volume_share, where volume_share is the
label's share of the window's labelled traces: the share of all traffic that is a failure of this
label. It ranks like Retool's error rate x volume (the window's total is a constant factor), and
is comparable across windows. This is the *trace* blast radius; the built-in "Blast radius"
dashboard charts the *span* one (a label's root spans' own errors), see
`loopline.common.analyses.blast_radius`. The built-in "Intents" dashboard charts the same labels.
"""

from __future__ import annotations

from typing import Any

from loopline.classifier.gateway_api import GatewayApi
from loopline.common.analyses import queries as q
from loopline.common.analyses import results


def stats_queries(project_id: str, facet: str, days: int) -> dict[str, str]:
    w = q.Window(project_id, days)
    return {
        "distribution": q.intents_by_period(w, facet),
        "traces": q.traces_by_intent(w, facet),
        "failed": q.failed_traces_by_intent(w, facet),
    }


def combine(
    by_period: list[dict[str, Any]], traces: list[dict[str, Any]], failed: list[dict[str, Any]], limit: int
) -> dict[str, Any]:
    """One row per label: counts and shares of both windows, change, errors, error rate, blast radius."""
    change = results.intent_change(by_period)
    failures = results.intent_failures(traces, failed)
    ranked = {
        r["intent"]: r for r in results.blast_radius(failures, "intent", "total", "errors", len(failures))
    }
    totals = {r["intent"]: r for r in failures}
    labels: list[dict[str, Any]] = []
    for item in change["intents"]:
        name = item["intent"]
        f = totals.get(name, {"total": 0, "errors": 0})
        r = ranked.get(name)
        labels.append(
            {
                "label": name,
                "current": item["current"],
                "previous": item["previous"],
                "current_share": item["current_share"],
                "previous_share": item["previous_share"],
                "share_change": item["share_change"],
                "failed": f["errors"],
                "error_rate": (f["errors"] / f["total"]) if f["total"] else None,
                "blast_radius": r["blast_radius"] if r else 0.0,
            }
        )
    labels.sort(key=lambda x: (-x["current"], x["label"]))
    by_blast = sorted(
        (x for x in labels if x["failed"]), key=lambda x: (-x["blast_radius"], -(x["error_rate"] or 0.0))
    )
    return {
        "classified_traces": change["classified_traces"],
        "unclassified_traces": change["unclassified_traces"],
        "labels": labels[:limit],
        "by_blast_radius": [x["label"] for x in by_blast[:limit]],
    }


async def label_stats(api: GatewayApi, project_id: str, facet: str, days: int, limit: int) -> dict[str, Any]:
    queries = stats_queries(project_id, facet, days)
    rows = {name: await api.btql_rows(query) for name, query in queries.items()}
    out = combine(rows["distribution"], rows["traces"], rows["failed"], limit)
    return {"facet": facet, "days": days, **out, "queries": queries}
