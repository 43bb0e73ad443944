"""Compile inputs that do not come from the query text: the tenant/object scope and limits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from loopline.btql import ast as A
from loopline.btql.errors import BindError, node_position
from loopline.btql.schema import DATASET, EXPERIMENT, OBJECT_TYPES, PROJECT_LOGS


@dataclass(frozen=True, slots=True)
class Scope:
    """What the caller is authorized to read; the only source of tenant/object ids in the SQL.

    `object_ids`: project ids for project_logs, experiment ids, or dataset ids.
    `project_ids`: the owning project(s) of experiments/datasets (optional; narrows the read to
    the table's sort-key prefix). `version`: read datasets as of this transaction id.
    """

    org_id: str
    object_type: str
    object_ids: tuple[str, ...]
    project_ids: tuple[str, ...] = ()
    version: int | None = None

    def __post_init__(self) -> None:
        if self.object_type not in OBJECT_TYPES:
            raise ValueError(f"unknown object type {self.object_type!r}")
        if not isinstance(self.org_id, str) or not self.org_id:
            raise ValueError("org_id must be a non-empty string")
        ids = tuple(self.object_ids) if not isinstance(self.object_ids, str) else (self.object_ids,)
        if not ids or not all(isinstance(i, str) and i for i in ids):
            raise ValueError("object_ids must be non-empty strings")
        object.__setattr__(self, "object_ids", ids)
        pids = tuple(self.project_ids) if not isinstance(self.project_ids, str) else (self.project_ids,)
        object.__setattr__(self, "project_ids", pids)
        if self.version is not None and (isinstance(self.version, bool) or not isinstance(self.version, int)):
            raise ValueError("version must be an integer transaction id")

    @classmethod
    def project_logs(cls, org_id: str, project_ids: str | Iterable[str]) -> Scope:
        ids = (project_ids,) if isinstance(project_ids, str) else tuple(project_ids)
        return cls(org_id, PROJECT_LOGS, ids, ids)

    @classmethod
    def experiment(
        cls, org_id: str, experiment_ids: str | Iterable[str], project_ids: str | Iterable[str] = ()
    ) -> Scope:
        ids = (experiment_ids,) if isinstance(experiment_ids, str) else tuple(experiment_ids)
        pids = (project_ids,) if isinstance(project_ids, str) else tuple(project_ids)
        return cls(org_id, EXPERIMENT, ids, pids)

    @classmethod
    def dataset(
        cls,
        org_id: str,
        dataset_ids: str | Iterable[str],
        project_ids: str | Iterable[str] = (),
        version: int | None = None,
    ) -> Scope:
        ids = (dataset_ids,) if isinstance(dataset_ids, str) else tuple(dataset_ids)
        pids = (project_ids,) if isinstance(project_ids, str) else tuple(project_ids)
        return cls(org_id, DATASET, ids, pids, version)


# Settings of `Limits.settings()` an older engine may not know (it refuses unknown settings). Each
# concerns a feature such an engine does not have (runtime filters; dotted keys stored escaped in
# JSON-type columns), so dropping it there changes nothing; the service drops those its store
# does not list in `system.settings`.
OPTIONAL_SETTINGS: frozenset[str] = frozenset(
    {"enable_join_runtime_filters", "json_type_escape_dots_in_keys", "type_json_skip_duplicated_paths"}
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-query limits; the ClickHouse ones are returned as query settings."""

    default_limit: int = 1000
    max_limit: int = 10_000
    max_result_rows: int = 200_000
    max_execution_time: float = 30.0
    max_memory_usage: int = 4 * 2**30
    max_bytes_to_read: int = 64 * 2**30
    extra_settings: tuple[tuple[str, Any], ...] = field(default=())
    # the newest-first windows (`newest.py`) tried before the plain query of a page sorted by
    # `created` descending, as multiples of the page's rows; () turns them off
    newest_windows: tuple[int, ...] = (8, 128)

    def settings(self) -> dict[str, Any]:
        s: dict[str, Any] = {
            "max_execution_time": self.max_execution_time,
            "max_memory_usage": self.max_memory_usage,
            "max_bytes_to_read": self.max_bytes_to_read,
            "max_result_rows": self.max_result_rows,
            "result_overflow_mode": "throw",
            # numeric constants in ORDER BY / GROUP BY must never mean "column N"
            "enable_positional_arguments": 0,
            # every version of a row shares `created` (sticky), hence its monthly partition:
            # FINAL may deduplicate partition by partition
            "do_not_merge_across_partitions_select_final": 1,
            # A JOIN runtime filter (built from the join's right side, pushed into the left read)
            # must never be on: ClickHouse 26.9 records the granules it skipped in the query
            # condition cache under the read's own WHERE, so after one `traces` query that matched
            # nothing, every later read of a dataset with that WHERE returned no rows (issue 10,
            # defect 6). With it off, no compiled shape leaves a wrong cache entry
            # (test_condition_cache.py); the cache itself stays on.
            "enable_join_runtime_filters": 0,
            # JSON-type values read and cast as the writer stored them (common.schema
            # JSON_TYPE_SETTINGS): a key `a.b` is one escaped path, not `a` → `b`, so typed
            # dimensions print it back as `a.b` and `infer`'s `::JSON` cast cannot fail on a
            # row holding both `{"a.b": 1}` and `{"a": {"b": 2}}`
            "json_type_escape_dots_in_keys": 1,
            "type_json_skip_duplicated_paths": 1,
        }
        s.update(dict(self.extra_settings))
        return s


@dataclass(frozen=True, slots=True)
class SourceRef:
    """The data source a query asks for (what the service must authorize and turn into a Scope)."""

    object_type: str
    object_ids: tuple[str, ...]
    project_id: str | None = None
    shape: str = "spans"


_UNSUPPORTED = {
    "prompt",
    "function",
    "view",
    "project_prompts",
    "project_functions",
    "org_prompts",
    "org_functions",
    "playground_logs",
    "prompt_session",
}
_SOURCES = {
    "project_logs": PROJECT_LOGS,
    "experiment": EXPERIMENT,
    "dataset": DATASET,
    "project_dataset": DATASET,
}


def source_of(q: A.Query) -> SourceRef:
    """Resolve the query's `from:`; BindError when missing, unknown or malformed."""
    import difflib

    src = q.from_
    if src is None:
        raise BindError("the query has no 'from:' clause (a data source is required)", 1, 1)
    if not src.is_call:
        raise BindError(
            f"querying '{src.name}' objects is not supported; use a source function such as "
            f"{src.name}('<id>')"
            if src.name in _SOURCES
            else f"unknown data source '{src.name}'",
            *node_position(src),
        )
    if src.name in _UNSUPPORTED:
        raise BindError(f"data source '{src.name}' is not supported", *node_position(src))
    if src.name not in _SOURCES:
        close = difflib.get_close_matches(src.name, list(_SOURCES), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise BindError(f"unknown data source '{src.name}'{hint}", *node_position(src))
    if src.named:
        raise BindError(
            f"unknown argument '{src.named[0][0]}' of '{src.name}'", *node_position(src.named[0][1])
        )
    ids: list[str] = []
    for a in src.args:
        if not (isinstance(a, A.Literal) and isinstance(a.value, str)) or not a.value:
            raise BindError(f"arguments of '{src.name}' must be non-empty string ids", *node_position(a))
        ids.append(a.value)
    if not ids:
        raise BindError(f"'{src.name}' needs at least one id", *node_position(src))
    shape = src.shape or "spans"
    if src.name == "project_dataset":
        if len(ids) != 2:
            raise BindError("project_dataset takes a project id and a dataset id", *node_position(src))
        return SourceRef(DATASET, (ids[1],), ids[0], shape)
    return SourceRef(_SOURCES[src.name], tuple(dict.fromkeys(ids)), None, shape)
