"""A project score's body in Braintrust's shape, validated (spec §6.1).

`score_type: "online"` makes the score an online-scoring rule; its `config.online` is parsed into an
`OnlineConfig`. Every other score type is stored as a plain project score (its `categories` and
`config` kept as given, checked for shape only). Problems are `Invalid` naming the field; a bad
`btql_filter` names its line and column too (filters.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from loopline.common.errors import Invalid
from loopline.evaluator.online.filters import validate_filter
from loopline.evaluator.runtime import scorers as builtin

SCORE_TYPES = ("slider", "categorical", "weighted", "minimum", "maximum", "online", "free-form")
MAX_NAME = 256
MAX_DESCRIPTION = 4096
MAX_SCORERS = 20
MAX_SPAN_NAMES = 100
MAX_FILTER_CHARS = 8192
DEFAULT_IDLE_S = 30.0
MAX_IDLE_S = 24 * 3600.0
ONLINE = "config.online"

Scope = Literal["span", "trace", "group"]
MAX_GROUP_TRACES = 64


@dataclass(frozen=True)
class GroupScope:
    """scope group (spec §6.1): the traces whose root spans share `group_by` (e.g. a session)
    are scored together, once the group has been quiet for `idle_seconds`."""

    group_by: tuple[str, ...]  # a field path of the root span, e.g. ("metadata", "session_id")
    max_traces: int = MAX_GROUP_TRACES
    placement: Literal["first", "each"] = "first"

    def public(self) -> dict[str, Any]:
        return {
            "group_by": ".".join(self.group_by),
            "max_traces": self.max_traces,
            "placement": self.placement,
        }


@dataclass(frozen=True)
class ScorerRef:
    """One scorer of a rule: a stored function (by id, optionally pinned to a version) or a global
    function (the autoevals built-ins, by name)."""

    type: Literal["function", "global"]
    id: str | None = None
    version: str | None = None
    name: str | None = None
    function_type: str | None = None

    @property
    def key(self) -> str:
        """Identifies the scorer within a rule (the dedupe key's last part)."""
        if self.type == "global":
            return f"global:{self.name}"
        return f"function:{self.id}@{self.version or ''}"

    def public(self) -> dict[str, Any]:
        if self.type == "global":
            out: dict[str, Any] = {"type": "global", "name": self.name}
            if self.function_type:
                out["function_type"] = self.function_type
            return out
        out = {"type": "function", "id": self.id}
        if self.version:
            out["version"] = self.version
        return out


@dataclass(frozen=True)
class OnlineConfig:
    sampling_rate: float
    scorers: tuple[ScorerRef, ...]
    btql_filter: str | None = None
    apply_to_root_span: bool = False
    apply_to_span_names: tuple[str, ...] = ()
    scope: Scope = "span"
    idle_seconds: float = DEFAULT_IDLE_S
    skip_logging: bool = False
    status: Literal["active", "paused"] = "active"
    # Loopline's addition: stop scoring for the rest of the UTC day once the rule's scorer runs
    # cost this much (None: no cap)
    daily_spend_cap_usd: float | None = None
    group: GroupScope | None = None  # scope group only
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def active(self) -> bool:
        return self.status == "active"

    def public(self) -> dict[str, Any]:
        scope: dict[str, Any] = {"type": self.scope}
        if self.scope != "span":
            scope["idle_seconds"] = self.idle_seconds
        if self.group is not None:
            scope.update(self.group.public())
        return {
            **self.extra,
            "sampling_rate": self.sampling_rate,
            "scorers": [s.public() for s in self.scorers],
            "btql_filter": self.btql_filter,
            "apply_to_root_span": self.apply_to_root_span,
            "apply_to_span_names": list(self.apply_to_span_names) or None,
            "scope": scope,
            "skip_logging": self.skip_logging,
            "status": self.status,
            "daily_spend_cap_usd": self.daily_spend_cap_usd,
        }


def _bool(raw: Mapping[str, Any], key: str, default: bool) -> bool:
    v = raw.get(key, default)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise Invalid(f"{key} must be true or false", field=f"{ONLINE}.{key}")
    return v


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise Invalid(f"{where.rsplit('.', 1)[-1]} must be a number", field=where)
    return float(v)


def _scorer(raw: Any, i: int) -> ScorerRef:
    where = f"{ONLINE}.scorers[{i}]"
    if not isinstance(raw, Mapping):
        raise Invalid("a scorer must be an object {type: function, id} or {type: global, name}", field=where)
    kind = raw.get("type")
    if kind == "function":
        fid, version = raw.get("id"), raw.get("version")
        if not isinstance(fid, str) or not fid.strip():
            raise Invalid("a function scorer needs its id (a string)", field=f"{where}.id")
        if version is not None and not isinstance(version, str):
            raise Invalid("version must be a string", field=f"{where}.version")
        return ScorerRef("function", id=fid, version=version or None)
    if kind == "global":
        name, ftype = raw.get("name"), raw.get("function_type")
        if not isinstance(name, str) or not name.strip():
            raise Invalid("a global scorer needs its name (e.g. Levenshtein)", field=f"{where}.name")
        if ftype is not None and not isinstance(ftype, str):
            raise Invalid("function_type must be a string", field=f"{where}.function_type")
        if builtin.kind_of(name) is None:
            raise Invalid(
                f"{name!r} is not a known global scorer; known: {', '.join(builtin.known_names())}",
                field=f"{where}.name",
            )
        return ScorerRef("global", name=name, function_type=ftype)
    raise Invalid("scorer type must be 'function' or 'global'", field=f"{where}.type")


def _idle(raw: Mapping[str, Any], where: str) -> float:
    idle = raw.get("idle_seconds")
    idle_s = DEFAULT_IDLE_S if idle is None else _number(idle, f"{where}.idle_seconds")
    if not 0 <= idle_s <= MAX_IDLE_S:
        raise Invalid(f"idle_seconds must be from 0 to {int(MAX_IDLE_S)}", field=f"{where}.idle_seconds")
    return idle_s


def _group(raw: Mapping[str, Any], where: str) -> GroupScope:
    by = raw.get("group_by")
    path = tuple(by.split(".")) if isinstance(by, str) else ()
    if not path or not all(p.strip() and p.replace("_", "").replace("-", "").isalnum() for p in path):
        raise Invalid(
            "group_by must be a field path of the root span, e.g. metadata.session_id",
            field=f"{where}.group_by",
        )
    n = raw.get("max_traces", MAX_GROUP_TRACES)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_GROUP_TRACES:
        raise Invalid(f"max_traces must be from 1 to {MAX_GROUP_TRACES}", field=f"{where}.max_traces")
    placement = raw.get("placement", "first")
    if placement not in ("first", "each"):
        raise Invalid("placement must be 'first' or 'each'", field=f"{where}.placement")
    if raw.get("interval_seconds") is not None:
        # never accepted and then ignored: a group is scored once, when it is quiet
        raise Invalid(
            "interval_seconds (rescoring a growing group) is not supported: a group is scored once, "
            "when it has been quiet for idle_seconds",
            field=f"{where}.interval_seconds",
        )
    return GroupScope(path, n, "each" if placement == "each" else "first")


def _scope(raw: Any) -> tuple[Scope, float, GroupScope | None]:
    where = f"{ONLINE}.scope"
    if raw is None:
        return "span", DEFAULT_IDLE_S, None
    if not isinstance(raw, Mapping):
        raise Invalid(
            "scope must be an object {type: span}, {type: trace, idle_seconds} or {type: group, group_by, ...}",
            field=where,
        )
    kind = raw.get("type", "span")
    if kind == "span":
        return "span", DEFAULT_IDLE_S, None
    if kind == "trace":
        return "trace", _idle(raw, where), None
    if kind == "group":
        return "group", _idle(raw, where), _group(raw, where)
    raise Invalid("scope type must be 'span', 'trace' or 'group'", field=f"{where}.type")


def parse_online(raw: Any, project_id: str) -> OnlineConfig:
    """`config.online` of an online rule; its filter is validated with the BTQL compiler."""
    if not isinstance(raw, Mapping):
        raise Invalid("an online score needs config.online (an object)", field=ONLINE)
    rate = raw.get("sampling_rate")
    if rate is None:
        raise Invalid("sampling_rate is required (a fraction from 0 to 1)", field=f"{ONLINE}.sampling_rate")
    rate_f = _number(rate, f"{ONLINE}.sampling_rate")
    if not 0.0 <= rate_f <= 1.0:
        raise Invalid("sampling_rate must be from 0 to 1", field=f"{ONLINE}.sampling_rate")
    scorers_raw = raw.get("scorers")
    if not isinstance(scorers_raw, list) or not scorers_raw:
        raise Invalid("scorers must be a non-empty array", field=f"{ONLINE}.scorers")
    if len(scorers_raw) > MAX_SCORERS:
        raise Invalid(f"at most {MAX_SCORERS} scorers per rule", field=f"{ONLINE}.scorers")
    scorers = tuple(_scorer(s, i) for i, s in enumerate(scorers_raw))
    keys = [s.key for s in scorers]
    if len(set(keys)) != len(keys):
        raise Invalid("a scorer is listed twice", field=f"{ONLINE}.scorers")
    flt = raw.get("btql_filter")
    if flt is not None:
        if not isinstance(flt, str):
            raise Invalid("btql_filter must be a string", field=f"{ONLINE}.btql_filter")
        if len(flt) > MAX_FILTER_CHARS:
            raise Invalid(f"btql_filter is longer than {MAX_FILTER_CHARS}", field=f"{ONLINE}.btql_filter")
        flt = flt.strip() or None
        if flt is not None:
            validate_filter(flt, project_id, field=f"{ONLINE}.btql_filter")
    names_raw = raw.get("apply_to_span_names")
    names: tuple[str, ...] = ()
    if names_raw is not None:
        if not isinstance(names_raw, list) or not all(isinstance(n, str) and n for n in names_raw):
            raise Invalid(
                "apply_to_span_names must be an array of names", field=f"{ONLINE}.apply_to_span_names"
            )
        if len(names_raw) > MAX_SPAN_NAMES:
            raise Invalid(f"at most {MAX_SPAN_NAMES} span names", field=f"{ONLINE}.apply_to_span_names")
        names = tuple(dict.fromkeys(names_raw))
    scope, idle, group = _scope(raw.get("scope"))
    status: Literal["active", "paused"] = "paused" if raw.get("status") == "paused" else "active"
    if raw.get("status") not in (None, "active", "paused"):
        raise Invalid("status must be 'active' or 'paused'", field=f"{ONLINE}.status")
    cap_raw = raw.get("daily_spend_cap_usd")
    cap = None if cap_raw is None else _number(cap_raw, f"{ONLINE}.daily_spend_cap_usd")
    if cap is not None and cap < 0:
        raise Invalid("daily_spend_cap_usd must be 0 or more", field=f"{ONLINE}.daily_spend_cap_usd")
    known = {
        "sampling_rate",
        "scorers",
        "btql_filter",
        "apply_to_root_span",
        "apply_to_span_names",
        "scope",
        "skip_logging",
        "status",
        "daily_spend_cap_usd",
    }
    return OnlineConfig(
        sampling_rate=rate_f,
        scorers=scorers,
        btql_filter=flt,
        apply_to_root_span=_bool(raw, "apply_to_root_span", False),
        apply_to_span_names=names,
        scope=scope,
        idle_seconds=idle,
        group=group,
        skip_logging=_bool(raw, "skip_logging", False),
        status=status,
        daily_spend_cap_usd=cap,
        extra={k: v for k, v in raw.items() if k not in known},
    )


@dataclass(frozen=True)
class ScoreBody:
    """The validated content of a project score (what create/replace/patch write)."""

    name: str
    score_type: str
    description: str | None = None
    categories: Any = None
    config: dict[str, Any] | None = None  # as stored, with config.online normalised
    online: OnlineConfig | None = None


def _name(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise Invalid("name must be a non-empty string", field="name")
    if len(v) > MAX_NAME:
        raise Invalid(f"name is longer than {MAX_NAME} characters", field="name")
    return v


def parse_body(body: Mapping[str, Any], project_id: str, base: ScoreBody | None = None) -> ScoreBody:
    """A create/replace body (`base` None) or a patch over `base` (absent fields keep their value)."""
    name = _name(body["name"]) if ("name" in body or base is None) else base.name
    stype = body.get("score_type", base.score_type if base else None)
    if stype not in SCORE_TYPES:
        raise Invalid(f"score_type must be one of: {', '.join(SCORE_TYPES)}", field="score_type")
    desc = body.get("description", base.description if base else None)
    if desc is not None and (not isinstance(desc, str) or len(desc) > MAX_DESCRIPTION):
        raise Invalid(f"description must be a string of at most {MAX_DESCRIPTION}", field="description")
    categories = body.get("categories", base.categories if base else None)
    if categories is not None and not isinstance(categories, list | dict):
        raise Invalid("categories must be an array or an object", field="categories")
    config = body.get("config", base.config if base else None)
    if config is not None and not isinstance(config, dict):
        raise Invalid("config must be an object", field="config")
    online = None
    if stype == "online":
        raw_online = (config or {}).get("online")
        if base is not None and base.online is not None and isinstance(raw_online, Mapping):
            # a patch names only what changes, e.g. {"config": {"online": {"status": "paused"}}}
            raw_online = {**base.online.public(), **raw_online}
        online = parse_online(raw_online, project_id)
        config = {**(config or {}), "online": online.public()}
    return ScoreBody(name, stype, desc, categories, config, online)
