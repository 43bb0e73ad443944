"""What the analyses answer, computed from the rows of their BTQL (pure functions)."""

from __future__ import annotations

from typing import Any

from loopline.common.analyses.queries import FALLBACK_PROVIDER_ERROR, PROVIDER_ERROR_KINDS


def _int(v: Any) -> int:
    return int(v or 0)


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def blast_radius(
    rows: list[dict[str, Any]], key: str, total_key: str, errors_key: str, limit: int
) -> list[dict[str, Any]]:
    """Groups with errors, by blast radius = error rate x volume share (the share of all the
    window's items that are failures of this group), then by error rate."""
    all_items = sum(_int(r.get(total_key)) for r in rows)
    out: list[dict[str, Any]] = []
    for r in rows:
        total, errors = _int(r.get(total_key)), _int(r.get(errors_key))
        if not errors or not total:
            continue
        rate = errors / total
        share = total / all_items
        out.append(
            {
                key: r.get(key),
                "total": total,
                "errors": errors,
                "error_rate": rate,
                "volume_share": share,
                "blast_radius": rate * share,
            }
        )
    out.sort(key=lambda x: (-x["blast_radius"], -x["error_rate"], str(x[key])))
    return out[:limit]


def intent_failures(traces: list[dict[str, Any]], failed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Traces and failed traces per intent label (unlabelled traces left out)."""
    failed_by = {r["intent"]: _int(r.get("failed")) for r in failed if r.get("intent") is not None}
    return [
        {"intent": r["intent"], "total": _int(r.get("traces")), "errors": failed_by.get(r["intent"], 0)}
        for r in traces
        if r.get("intent") is not None
    ]


def _success(calls: int, failures: int) -> dict[str, Any]:
    return {"calls": calls, "failures": failures, "success_rate": _rate(calls - failures, calls)}


def _change(cur: float | None, prev: float | None) -> float | None:
    return cur - prev if cur is not None and prev is not None else None


def tool_success_change(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Success rate of each tool (and of all tools) in the current and previous window, and the
    change in rate (current - previous; negative = worse)."""
    per: dict[str, dict[str, list[int]]] = {}
    for r in rows:
        tool = str(r.get("tool"))
        per.setdefault(tool, {"current": [0, 0], "previous": [0, 0]})
        cell = per[tool][str(r.get("period"))]
        cell[0] += _int(r.get("calls"))
        cell[1] += _int(r.get("failures"))
    tools = []
    totals = {"current": [0, 0], "previous": [0, 0]}
    for tool, p in sorted(per.items()):
        cur, prev = _success(*p["current"]), _success(*p["previous"])
        for period in ("current", "previous"):
            totals[period][0] += p[period][0]
            totals[period][1] += p[period][1]
        tools.append(
            {
                "tool": tool,
                "current": cur,
                "previous": prev,
                "change": _change(cur["success_rate"], prev["success_rate"]),
            }
        )
    tools.sort(key=lambda t: (t["change"] if t["change"] is not None else 0.0, t["tool"]))
    cur, prev = _success(*totals["current"]), _success(*totals["previous"])
    return {
        "overall": {
            "current": cur,
            "previous": prev,
            "change": _change(cur["success_rate"], prev["success_rate"]),
        },
        "tools": tools,
    }


PROVIDER_KINDS = (*(k for k, _ in PROVIDER_ERROR_KINDS), FALLBACK_PROVIDER_ERROR)


def provider_error_split(errors: list[dict[str, Any]], calls: list[dict[str, Any]]) -> dict[str, Any]:
    """LLM-call errors by kind, and per provider/model with their error rate."""
    by_kind = dict.fromkeys(PROVIDER_KINDS, 0)
    models: dict[tuple[Any, Any], dict[str, Any]] = {}
    for r in calls:
        key = (r.get("provider"), r.get("model"))
        models[key] = {
            "provider": key[0],
            "model": key[1],
            "calls": _int(r.get("calls")),
            "errors": 0,
            "by_kind": {},
        }
    for r in errors:
        kind, n = str(r.get("kind")), _int(r.get("errors"))
        by_kind[kind] = by_kind.get(kind, 0) + n
        key = (r.get("provider"), r.get("model"))
        m = models.setdefault(
            key, {"provider": key[0], "model": key[1], "calls": 0, "errors": 0, "by_kind": {}}
        )
        m["errors"] += n
        m["by_kind"][kind] = m["by_kind"].get(kind, 0) + n
    per_model = [{**m, "error_rate": _rate(m["errors"], m["calls"])} for m in models.values() if m["errors"]]
    per_model.sort(key=lambda m: (-m["errors"], str(m["model"])))
    llm_calls = sum(_int(r.get("calls")) for r in calls)
    return {
        "total_errors": sum(by_kind.values()),
        "llm_calls": llm_calls,
        "by_kind": by_kind,
        "by_model": per_model,
    }


def intent_change(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each intent's traces and share in the current and previous window, and the change of its
    share (percentage points as a fraction); unclassified traces counted apart."""
    counts: dict[str, dict[str, int]] = {}
    unclassified = {"current": 0, "previous": 0}
    for r in rows:
        period, n = str(r.get("period")), _int(r.get("traces"))
        if r.get("intent") is None:
            unclassified[period] = unclassified.get(period, 0) + n
            continue
        c = counts.setdefault(str(r["intent"]), {"current": 0, "previous": 0})
        c[period] += n
    totals = {p: sum(c[p] for c in counts.values()) for p in ("current", "previous")}
    intents: list[dict[str, Any]] = []
    for name, c in counts.items():
        cur_share, prev_share = (
            _rate(c["current"], totals["current"]),
            _rate(c["previous"], totals["previous"]),
        )
        intents.append(
            {
                "intent": name,
                "current": c["current"],
                "previous": c["previous"],
                "current_share": cur_share,
                "previous_share": prev_share,
                "share_change": _change(cur_share, prev_share),
            }
        )
    intents.sort(key=lambda i: (-i["current"], i["intent"]))
    return {
        "classified": bool(intents),
        "classified_traces": totals,
        "unclassified_traces": unclassified,
        "intents": intents,
    }
