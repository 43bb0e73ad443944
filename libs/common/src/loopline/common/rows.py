"""The row model shared by project logs, experiment rows and dataset rows (write side).

A row as it arrives in `/logs3` `rows[]` (protocol spec §5.1) mixes four kinds of top-level
fields; `validate_row` checks them and sorts them apart:

- **target object ids** (`experiment_id`, `dataset_id`, `project_id` + `log_id`,
  `prompt_session_id`) → an `ObjectRef`. `org_id` is dropped: the org comes from the
  authenticated principal, never from the body;
- **data fields** (`id`, `created`, span ids, `input`, `output`, `scores`, ...) → `data`;
- **control fields** (`_is_merge`, `_merge_paths`, `_array_delete`, `_object_delete`,
  `_parent_id`, `_audit_source`, `_audit_metadata`, ...) → `Control`;
- **unknown fields** → `extra` (kept, not rejected). Read-only fields a fetched row carries
  (`_xact_id`, `is_root`, `audit_data`, `comments`, `_pagination_key`) are dropped, so a row read
  from one object can be written into another unchanged.

The validator is a hand-written dict walk (no pydantic): it checks the top-level fields and
the small typed objects (`scores`, `metrics`, `tags`, span ids), then walks the whole row once
to hold it to the **storage contract** — what every later step (the bus envelope, the writer,
the store's typed columns, the API responses) can carry exactly:

- only JSON values: objects with string keys, arrays, strings (valid Unicode: no lone
  surrogates), booleans, null, finite floats and integers within 64 bits
  (`-2**63 .. 2**64-1`, what a JSON parser hands us; larger integer literals arrive as floats);
- nested at most `MAX_ROW_DEPTH` levels of objects/arrays, the row object itself being level 1.
  That is orjson's encoder limit minus the levels that wrap a row on its way out (see below),
  so an accepted row can always be encoded onto the bus and into every response.

`services/ingest/tests/test_row_contract.py` proves it against the real store: a row
this accepts is written, read back equal, and summarised and schema-inferred without error.
Errors name the field path, e.g. `rows[3].scores.accuracy: expected a number between 0 and 1
or null` or `rows[0].metadata["a.b"][2]: ...`.

Row size limits are enforced by the HTTP layer, not here.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from loopline.common.messages.rows import row_key
from loopline.common.object_types import DATASET as DATASET
from loopline.common.object_types import EXPERIMENT as EXPERIMENT
from loopline.common.object_types import LOG_IDS as LOG_IDS
from loopline.common.object_types import PROJECT_LOGS as PROJECT_LOGS
from loopline.common.object_types import PROJECT_PROMPTS as PROJECT_PROMPTS
from loopline.common.object_types import PROMPT_SESSION as PROMPT_SESSION
from loopline.common.object_types import WRITABLE

# -- object types ---------------------------------------------------------------------------

# defined in `loopline.common.object_types`; the names stay importable from here
OBJECT_TYPES: Final = WRITABLE

# -- field classes --------------------------------------------------------------------------

OBJECT_ID_FIELDS: Final = frozenset(
    {"experiment_id", "dataset_id", "project_id", "log_id", "prompt_session_id", "org_id"}
)
#: Data fields of the Braintrust row shape that we store in their own columns.
DATA_FIELDS: Final = frozenset(
    {
        "id",
        "created",
        "span_id",
        "root_span_id",
        "span_parents",
        "span_attributes",
        "input",
        "output",
        "expected",
        "error",
        "scores",
        "metadata",
        "metrics",
        "tags",
        "context",
        "origin",
        "comment",
    }
)
CONTROL_FIELDS: Final = frozenset(
    {
        "_is_merge",
        "_merge_paths",
        "_array_delete",
        "_object_delete",
        "_parent_id",
        "_audit_source",
        "_audit_metadata",
        "_async_scoring_control",
        "_skip_async_scoring",
    }
)
#: Fields only the server sets (read side); dropped when a client sends them.
READ_ONLY_FIELDS: Final = frozenset({"_xact_id", "is_root", "audit_data", "comments", "_pagination_key"})
#: Identity fields that keep the first write's value when later writes merge into a row.
STICKY_FIELDS: Final = ("created", "span_id", "root_span_id", "span_parents")

# -- the storage contract -------------------------------------------------------------------

#: The most nested arrays/objects orjson — the encoder of bus envelopes and of API responses —
#: can write (it refuses the 255th level).
ENCODER_MAX_DEPTH: Final = 254
#: Levels that can wrap a row on its way out: an API response (`{"events": [row]}`, 2) and the
#: audit trail a row's `_audit_metadata` is copied into (`audit_data: [{"metadata": ...}]`, 2
#: more below the row). The bus envelope (`{"r": row}`, 1) fits within these.
ROW_WRAPPING_DEPTH: Final = 4
#: How deep a row may nest, the row object itself being level 1 (`{"input": [1]}` is 2 deep).
MAX_ROW_DEPTH: Final = ENCODER_MAX_DEPTH - ROW_WRAPPING_DEPTH
#: Integers a row may hold: what a 64-bit JSON codec (orjson, the store) carries exactly.
MIN_INT: Final = -(2**63)
MAX_INT: Final = 2**64 - 1


class RowValidationError(ValueError):
    """A row that is not acceptable; `path` names the offending field (`rows[3].scores.acc`)."""

    def __init__(
        self, path: str, message: str, *, index: int | None = None, field: str | None = None
    ) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.index = index
        self.field = field


# -- the model ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """The object a row targets. `project_id` is known from the row for project-scoped objects
    (project logs/prompts) or when the row carries it as a hint; otherwise the ingest resolves it."""

    object_type: str
    object_id: str
    project_id: str | None = None


@dataclass(frozen=True, slots=True)
class RowKey:
    """Identity of a logical row: every write with the same key folds into one row."""

    object_type: str
    object_id: str
    id: str

    def bus_key(self, org_id: str) -> bytes:
        """Kafka key: one row key → one partition → per-key order (`messages.rows.row_key`)."""
        return row_key(org_id, self.object_type, self.object_id, self.id).encode()


@dataclass(frozen=True, slots=True)
class ArrayDelete:
    path: tuple[str, ...]
    delete: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Control:
    is_merge: bool = False
    merge_paths: tuple[tuple[str, ...], ...] = ()
    array_delete: tuple[ArrayDelete, ...] = ()
    object_delete: bool = False
    parent_id: str | None = None
    audit_source: str | None = None
    audit_metadata: dict[str, Any] | None = None
    #: rare online-scoring controls (`_async_scoring_control`, `_skip_async_scoring`), verbatim
    other: Mapping[str, Any] = field(default_factory=dict)


NO_CONTROL: Final = Control()


@dataclass(slots=True)
class ValidatedRow:
    """One write, validated and sorted into its parts.

    `row` is the normalised wire form to put on the bus (the original minus `org_id` and
    read-only fields, with `id` filled in and `created` in canonical ISO form); `parse_row(row)`
    rebuilds this object from it without re-validating.
    """

    ref: ObjectRef
    id: str
    data: dict[str, Any]
    control: Control
    extra: dict[str, Any]
    row: dict[str, Any]
    #: which body field named the target object (`experiment_id`, ...), for error messages
    id_field: str
    #: `orjson.dumps(row)` when a producer already encoded it (OTLP measures each row's size so),
    #: for the bus envelope to carry as it is (`messages.rows.encode_encoded`)
    encoded: bytes | None = None

    @property
    def key(self) -> RowKey:
        return RowKey(self.ref.object_type, self.ref.object_id, self.id)

    # the attributes the write API reads
    @property
    def object_type(self) -> str:
        return self.ref.object_type

    @property
    def object_id(self) -> str:
        return self.ref.object_id

    @property
    def project_id(self) -> str | None:
        return self.ref.project_id

    def fields(self) -> dict[str, Any]:
        """Data and unknown fields together: the row's content in Braintrust shape."""
        if not self.extra:
            return dict(self.data)
        return {**self.data, **self.extra}


# -- helpers --------------------------------------------------------------------------------


def json_type_name(v: Any) -> str:
    """How an error message names the JSON type of `v` (`a string`, `an object`, `null`...)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _is_number(v: Any) -> bool:
    t = type(v)
    if t is int:
        return True
    if t is float:
        return math.isfinite(v)
    return False


def _fail(path: str, message: str, index: int | None, fld: str | None = None) -> RowValidationError:
    return RowValidationError(path, message, index=index, field=fld)


def normalize_created(value: str) -> str:
    """Canonical `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` (UTC) of an ISO-8601 timestamp.

    Accepts `Z`, offsets, a space separator, 0-9 fractional digits (truncated to µs) and naive
    times (taken as UTC). Raises ValueError otherwise.
    """
    return format_created(parse_created(value))


def parse_created(value: str) -> datetime:
    s = value.strip()
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        dt = datetime.fromisoformat(_trim_fraction(s))
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _trim_fraction(s: str) -> str:
    # Python 3.11 refuses > 6 fractional digits in some forms; truncate to microseconds.
    dot = s.find(".", 10)
    if dot < 0:
        raise ValueError(s)
    end = dot + 1
    while end < len(s) and s[end].isdigit():
        end += 1
    return s[: dot + 1] + s[dot + 1 : min(end, dot + 7)] + s[end:]


def format_created(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    elif dt.utcoffset():
        dt = dt.astimezone(UTC)
    return dt.isoformat(timespec="microseconds")


# -- validation -----------------------------------------------------------------------------


def _target(raw: Mapping[str, Any], path: str, index: int | None) -> tuple[ObjectRef, str]:
    get = raw.get
    exp = get("experiment_id")
    ds = get("dataset_id")
    ps = get("prompt_session_id")
    proj = get("project_id")
    log = get("log_id")
    for name, v in (
        ("experiment_id", exp),
        ("dataset_id", ds),
        ("prompt_session_id", ps),
        ("project_id", proj),
        ("log_id", log),
    ):
        if v is not None and (type(v) is not str or not v):
            raise _fail(
                f"{path}.{name}", f"expected a non-empty string, got {json_type_name(v)}", index, name
            )
    if (exp is not None) + (ds is not None) + (ps is not None) + (log is not None) > 1:
        found = [
            n
            for n, v in (
                ("experiment_id", exp),
                ("dataset_id", ds),
                ("prompt_session_id", ps),
                ("project_id+log_id", log),
            )
            if v is not None
        ]
        raise _fail(path, f"a row must target exactly one object, found {' and '.join(found)}", index)
    if log is not None:
        otype = LOG_IDS.get(log)
        if otype is None:
            raise _fail(
                f"{path}.log_id",
                f'expected "g" (project logs) or "p" (prompts), got {log!r}',
                index,
                "log_id",
            )
        if proj is None:
            raise _fail(f"{path}.project_id", "a row with log_id needs a project_id", index, "project_id")
        return ObjectRef(otype, proj, proj), "project_id"
    if exp is not None:
        return ObjectRef(EXPERIMENT, exp, proj), "experiment_id"
    if ds is not None:
        return ObjectRef(DATASET, ds, proj), "dataset_id"
    if ps is not None:
        return ObjectRef(PROMPT_SESSION, ps, proj), "prompt_session_id"
    if proj is not None:  # project_id alone: project logs (as the REST project_logs insert implies)
        return ObjectRef(PROJECT_LOGS, proj, proj), "project_id"
    raise _fail(
        path,
        "missing target object: set one of experiment_id, dataset_id, project_id+log_id, prompt_session_id",
        index,
    )


def _ck_object(name: str) -> Any:
    def check(v: Any, path: str, index: int | None) -> Any:
        if type(v) is not dict:
            raise _fail(f"{path}.{name}", f"expected an object or null, got {json_type_name(v)}", index, name)
        return v

    return check


def _ck_span_attributes(v: Any, path: str, index: int | None) -> Any:
    if type(v) is not dict:
        raise _fail(
            f"{path}.span_attributes",
            f"expected an object or null, got {json_type_name(v)}",
            index,
            "span_attributes",
        )
    for k in ("name", "type"):
        sv = v.get(k)
        if sv is not None and type(sv) is not str:
            raise _fail(
                f"{path}.span_attributes.{k}",
                f"expected a string or null, got {json_type_name(sv)}",
                index,
                "span_attributes",
            )
    return v


def _ck_scores(v: Any, path: str, index: int | None) -> Any:
    if type(v) is not dict:
        raise _fail(f"{path}.scores", f"expected an object or null, got {json_type_name(v)}", index, "scores")
    for k, s in v.items():
        t = type(s)
        if (t is int or t is float) and 0 <= s <= 1:  # NaN fails the comparison
            continue
        if s is None:
            continue
        raise _fail(f"{path}.scores.{k}", "expected a number between 0 and 1 or null", index, "scores")
    return v


def _ck_metrics(v: Any, path: str, index: int | None) -> Any:
    if type(v) is not dict:
        raise _fail(
            f"{path}.metrics", f"expected an object or null, got {json_type_name(v)}", index, "metrics"
        )
    for k, m in v.items():
        if m is not None and not _is_number(m):
            raise _fail(
                f"{path}.metrics.{k}", f"expected a number or null, got {json_type_name(m)}", index, "metrics"
            )
    return v


def _ck_str_list(name: str) -> Any:
    def check(v: Any, path: str, index: int | None) -> Any:
        if type(v) is not list:
            raise _fail(
                f"{path}.{name}",
                f"expected an array of strings or null, got {json_type_name(v)}",
                index,
                name,
            )
        for i, t in enumerate(v):
            if type(t) is not str:
                raise _fail(f"{path}.{name}[{i}]", f"expected a string, got {json_type_name(t)}", index, name)
        return v

    return check


def _ck_str(name: str) -> Any:
    def check(v: Any, path: str, index: int | None) -> Any:
        if type(v) is not str:
            raise _fail(f"{path}.{name}", f"expected a string or null, got {json_type_name(v)}", index, name)
        return v

    return check


def _ck_created(v: Any, path: str, index: int | None) -> Any:
    if type(v) is not str:
        raise _fail(
            f"{path}.created",
            f"expected an ISO-8601 timestamp string or null, got {json_type_name(v)}",
            index,
            "created",
        )
    try:
        if len(v) == 32 and v[10] == "T" and v[19] == "." and v.endswith("+00:00"):
            datetime.fromisoformat(v)  # already canonical: just check it
            return v
        return normalize_created(v)
    except ValueError:
        raise _fail(
            f"{path}.created", f"expected an ISO-8601 timestamp, got {v!r}", index, "created"
        ) from None


_ANY: Final = None  # arbitrary JSON: no check
#: Per data field: its checker (returns the possibly normalised value), or None for any JSON.
_CHECKERS: Final[dict[str, Any]] = {
    "created": _ck_created,
    "span_id": _ck_str("span_id"),
    "root_span_id": _ck_str("root_span_id"),
    "span_parents": _ck_str_list("span_parents"),
    "span_attributes": _ck_span_attributes,
    "input": _ANY,
    "output": _ANY,
    "expected": _ANY,
    "error": _ANY,
    "scores": _ck_scores,
    "metadata": _ck_object("metadata"),
    "metrics": _ck_metrics,
    "tags": _ck_str_list("tags"),
    "context": _ck_object("context"),
    "origin": _ck_object("origin"),
    "comment": _ck_object("comment"),
}
assert set(_CHECKERS) == DATA_FIELDS - {"id"}
#: Top-level keys that are neither data nor unknown.
_NOT_EXTRA: Final = OBJECT_ID_FIELDS | CONTROL_FIELDS | READ_ONLY_FIELDS | {"id"}
_DROPPED: Final = READ_ONLY_FIELDS | {"org_id"}
_TARGET_FIELDS: Final = frozenset(
    {"experiment_id", "dataset_id", "project_id", "log_id", "prompt_session_id"}
)


def _str_path(p: Any, path: str, index: int | None, name: str) -> tuple[str, ...]:
    if type(p) is not list or not p or any(type(x) is not str for x in p):
        raise _fail(path, "expected a non-empty array of field names (strings)", index, name)
    return tuple(p)


def _control(raw: Mapping[str, Any], path: str, index: int | None) -> Control:
    is_merge = raw.get("_is_merge")
    if is_merge is not None and type(is_merge) is not bool:
        raise _fail(
            f"{path}._is_merge",
            f"expected a boolean or null, got {json_type_name(is_merge)}",
            index,
            "_is_merge",
        )
    obj_del = raw.get("_object_delete")
    if obj_del is not None and type(obj_del) is not bool:
        raise _fail(
            f"{path}._object_delete",
            f"expected a boolean or null, got {json_type_name(obj_del)}",
            index,
            "_object_delete",
        )
    mp = raw.get("_merge_paths")
    merge_paths: tuple[tuple[str, ...], ...] = ()
    if mp is not None:
        if type(mp) is not list:
            raise _fail(
                f"{path}._merge_paths",
                f"expected an array of paths, got {json_type_name(mp)}",
                index,
                "_merge_paths",
            )
        merge_paths = tuple(
            _str_path(p, f"{path}._merge_paths[{i}]", index, "_merge_paths") for i, p in enumerate(mp)
        )
    ad = raw.get("_array_delete")
    array_delete: tuple[ArrayDelete, ...] = ()
    if ad is not None:
        if type(ad) is not list:
            raise _fail(
                f"{path}._array_delete",
                f"expected an array, got {json_type_name(ad)}",
                index,
                "_array_delete",
            )
        items = []
        for i, item in enumerate(ad):
            ipath = f"{path}._array_delete[{i}]"
            if type(item) is not dict:
                raise _fail(
                    ipath, 'expected an object {"path": [...], "delete": [...]}', index, "_array_delete"
                )
            p = _str_path(item.get("path"), f"{ipath}.path", index, "_array_delete")
            d = item.get("delete")
            if type(d) is not list:
                raise _fail(
                    f"{ipath}.delete",
                    f"expected an array of values, got {json_type_name(d)}",
                    index,
                    "_array_delete",
                )
            items.append(ArrayDelete(p, tuple(d)))
        array_delete = tuple(items)
    parent = raw.get("_parent_id")
    if parent is not None and (type(parent) is not str or not parent):
        raise _fail(
            f"{path}._parent_id",
            f"expected a non-empty string or null, got {json_type_name(parent)}",
            index,
            "_parent_id",
        )
    src = raw.get("_audit_source")
    if src is not None and type(src) is not str:
        raise _fail(
            f"{path}._audit_source",
            f"expected a string or null, got {json_type_name(src)}",
            index,
            "_audit_source",
        )
    meta = raw.get("_audit_metadata")
    if meta is not None and type(meta) is not dict:
        raise _fail(
            f"{path}._audit_metadata",
            f"expected an object or null, got {json_type_name(meta)}",
            index,
            "_audit_metadata",
        )
    other = {k: raw[k] for k in ("_async_scoring_control", "_skip_async_scoring") if k in raw}
    return Control(
        is_merge=bool(is_merge),
        merge_paths=merge_paths,
        array_delete=array_delete,
        object_delete=bool(obj_del),
        parent_id=parent,
        audit_source=src,
        audit_metadata=meta,
        other=other,
    )


_PLAIN_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PATH_ENDS: Final = 8


def format_path(base: str, trail: Sequence[str | int]) -> str:
    """`base` followed by object keys and array indexes: `row.input.a[2]["x.y"]`. A very deep
    path shows its first and last steps around the count of those left out."""
    out = [base]
    if len(trail) > 2 * _PATH_ENDS:
        left_out = len(trail) - 2 * _PATH_ENDS
        return (
            format_path(base, trail[:_PATH_ENDS])
            + f"...({left_out} levels)..."
            + format_path("", trail[-_PATH_ENDS:])
        )
    for k in trail:
        if type(k) is int:
            out.append(f"[{k}]")
        elif type(k) is str and _PLAIN_KEY.match(k):
            out.append(f".{k}")
        else:
            out.append(f"[{_quote_key(k)}]")
    return "".join(out)


def _quote_key(k: Any) -> str:
    if type(k) is not str:
        return repr(k)
    try:
        return orjson.dumps(k).decode()
    except TypeError:  # a lone surrogate: show it escaped
        return ascii(k)


class _Unstorable(Exception):
    def __init__(self, message: str, trail: list[str | int]) -> None:
        super().__init__(message)
        self.message = message
        self.trail = list(trail)


def _check_text(s: str, trail: list[str | int], what: str) -> None:
    if not _valid_text(s):
        raise _Unstorable(f"{what} is not valid Unicode (it holds a lone surrogate)", trail)


def _check_tree(v: Any, depth: int, trail: list[str | int]) -> None:
    """Raise `_Unstorable` (with the path in `trail`) unless `v`, at nesting level `depth`, is
    within the storage contract. Recursion is bounded by `MAX_ROW_DEPTH`."""
    t = type(v)
    if t is dict:
        if depth > MAX_ROW_DEPTH:
            raise _Unstorable(_too_deep(), trail)
        for k, x in v.items():
            if type(k) is not str:
                raise _Unstorable(f"object keys must be strings, got {json_type_name(k)}", [*trail, repr(k)])
            if not k.isascii():
                _check_text(k, [*trail, k], "this key")
            tx = type(x)
            if (tx is str and x.isascii()) or x is None or tx is bool:
                continue  # the common leaves, checked inline
            trail.append(k)
            _check_tree(x, depth + 1, trail)
            trail.pop()
    elif t is list:
        if depth > MAX_ROW_DEPTH:
            raise _Unstorable(_too_deep(), trail)
        for i, x in enumerate(v):
            tx = type(x)
            if (tx is str and x.isascii()) or x is None or tx is bool:
                continue
            trail.append(i)
            _check_tree(x, depth + 1, trail)
            trail.pop()
    elif t is str:
        if not v.isascii():
            _check_text(v, trail, "this string")
    elif t is int:
        if not MIN_INT <= v <= MAX_INT:
            raise _Unstorable(
                f"integer {_short_int(v)} is out of range: integers must be within -2**63 .. 2**64-1 "
                "(send larger numbers as floats or strings)",
                trail,
            )
    elif t is float:
        if not math.isfinite(v):
            raise _Unstorable(f"{v} is not a JSON number (numbers must be finite)", trail)
    elif v is None or t is bool:
        pass
    else:
        raise _Unstorable(f"expected a JSON value, got a Python {t.__name__}", trail)


def _too_deep() -> str:
    return (
        f"nested deeper than the limit of {MAX_ROW_DEPTH} levels of objects and arrays "
        "(the row itself is level 1)"
    )


def _short_int(v: int) -> str:
    s = str(v) if v.bit_length() < 1000 else f"of {v.bit_length()} bits"
    return s if len(s) <= 40 else s[:20] + "..." + s[-10:]


def _valid_text(s: str) -> bool:
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _storable_items(items: Iterable[Any], depth: int) -> bool:
    """`_storable` of a container's items, the common leaves checked inline."""
    for x in items:
        tx = type(x)
        if tx is str:
            if not x.isascii() and not _valid_text(x):
                return False
        elif x is None or tx is bool:
            pass
        elif tx is int:
            if not MIN_INT <= x <= MAX_INT:
                return False
        elif tx is float:
            if x - x != 0.0:
                return False
        elif not _storable(x, depth):
            return False
    return True


def _storable(v: Any, depth: int) -> bool:
    """The fast yes/no form of `_check_tree` (no path bookkeeping): the common leaves are
    checked inline, containers recursively. `x - x != 0.0` is true exactly for NaN and ±inf."""
    t = type(v)
    if t is dict:
        if depth > MAX_ROW_DEPTH:
            return False
        for k in v:
            if type(k) is not str or (not k.isascii() and not _valid_text(k)):
                return False
        return _storable_items(v.values(), depth + 1)
    if t is list:
        if depth > MAX_ROW_DEPTH:
            return False
        return _storable_items(v, depth + 1)
    if t is str:
        return v.isascii() or _valid_text(v)
    if t is int:
        in_range: bool = MIN_INT <= v <= MAX_INT
        return in_range
    if t is float:
        return bool(v - v == 0.0)
    return v is None or t is bool


def check_storable(raw: Mapping[str, Any], path: str = "row", *, index: int | None = None) -> None:
    """Raise `RowValidationError` naming the path unless the row is within the storage contract
    (JSON values only, 64-bit integers, finite floats, valid Unicode, `MAX_ROW_DEPTH`)."""
    if _storable(raw, 1):
        return
    try:  # find where, with the path-keeping walk
        _check_tree(raw, 1, [])
    except _Unstorable as exc:
        head = exc.trail[0] if exc.trail else None
        raise RowValidationError(
            format_path(path, exc.trail), exc.message, index=index, field=head if type(head) is str else None
        ) from None
    raise AssertionError("_storable and _check_tree disagree")  # pragma: no cover


def _within_depth(v: Any, depth: int) -> bool:
    """Whether a container (a dict or a list) at nesting level `depth` nests at most
    `MAX_ROW_DEPTH` levels (its leaves are not looked at)."""
    if depth > MAX_ROW_DEPTH:
        return False
    for x in v.values() if type(v) is dict else v:
        t = type(x)
        if (t is dict or t is list) and not _within_depth(x, depth + 1):
            return False
    return True


def _has_control(raw: Mapping[str, Any]) -> bool:
    return not CONTROL_FIELDS.isdisjoint(raw)


def validate_row(
    raw: Any, path: str = "row", *, index: int | None = None, new_id: Any = None, from_json: bool = False
) -> ValidatedRow:
    """Validate one wire row. Raises `RowValidationError` naming the field path.

    A row without `id` gets a fresh UUID (REST semantics; the SDK always sends one) — pass
    `new_id` (a zero-argument callable) to control that.

    `from_json`: the row is what `orjson.loads` made of a request body (the values of any JSON
    fields added since are strings). orjson already refuses what else the storage contract
    refuses (lone surrogates, in keys too; non-finite numbers) and reads integers beyond 64 bits as
    floats, so only the row's depth is walked; a row too deep gets the full walk's error. Rows
    built only of such values may say so too (OTLP's mapper: `ingest.otlp.targets`).
    """
    if type(raw) is not dict:
        raise _fail(path, f"expected an object, got {json_type_name(raw)}", index)
    ref, id_field = _target(raw, path, index)
    data: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    row = dict(raw)
    checkers = _CHECKERS
    for k, v in raw.items():
        if k in checkers:
            if v is not None:
                chk = checkers[k]
                if chk is not None:
                    nv = chk(v, path, index)
                    if nv is not v:
                        row[k] = v = nv
            data[k] = v
        elif k not in _NOT_EXTRA:
            extra[k] = v
    if not _DROPPED.isdisjoint(raw):
        for k in _DROPPED:
            row.pop(k, None)
    rid = raw.get("id")
    if rid is None:
        rid = str(new_id() if new_id is not None else uuid.uuid4())
        row["id"] = rid
    elif type(rid) is not str or not rid:
        raise _fail(f"{path}.id", f"expected a non-empty string, got {json_type_name(rid)}", index, "id")
    control = _control(raw, path, index) if _has_control(raw) else NO_CONTROL
    if control.object_delete and control.is_merge:
        raise _fail(path, "_object_delete cannot be combined with _is_merge", index, "_object_delete")
    if not (from_json and _within_depth(row, 1)):
        check_storable(row, path, index=index)
    return ValidatedRow(ref=ref, id=rid, data=data, control=control, extra=extra, row=row, id_field=id_field)


def validate_rows(rows: Sequence[Any], path: str = "rows", *, from_json: bool = False) -> list[ValidatedRow]:
    """Validate a batch; the first bad row raises (error paths like `rows[3].scores.x`).
    `from_json`: see `validate_row`."""
    return [validate_row(r, f"{path}[{i}]", index=i, from_json=from_json) for i, r in enumerate(rows)]


def parse_row(row: Mapping[str, Any], ref: ObjectRef | None = None) -> ValidatedRow:
    """Rebuild a `ValidatedRow` from its normalised wire form (`ValidatedRow.row`), e.g. on the
    consumer side of the bus. Cheap: types are re-checked only for the control fields.

    A row without target-object fields (a producer that put the target in the bus envelope
    only) gets `ref`, or an empty `ObjectRef("", "")`: merging does not need it."""
    if _TARGET_FIELDS.isdisjoint(row):
        ref, id_field = ref or ObjectRef("", ""), ""
    else:
        ref, id_field = _target(row, "row", None)
    data: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for k, v in row.items():
        if k in DATA_FIELDS:
            if k == "created" and v is not None:
                v = _ck_created(v, "row", None)  # producers that skip validate_row
            if k != "id":
                data[k] = v
        elif k not in _NOT_EXTRA:
            extra[k] = v
    rid = row.get("id")
    if type(rid) is not str or not rid:
        raise RowValidationError("row.id", "expected a non-empty string", field="id")
    control = _control(row, "row", None) if _has_control(row) else NO_CONTROL
    return ValidatedRow(
        ref=ref, id=rid, data=data, control=control, extra=extra, row=dict(row), id_field=id_field
    )


def plain_fields(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """`parse_row(row).fields()` (same values, same checks and errors, keys in the row's order)
    for a row without control fields, built without the `ValidatedRow`; None when the row has
    control fields (merge, delete, `_parent_id`, audit...): parse it. The writer's fast path for
    plain inserts, which are what steady ingest sends."""
    if not CONTROL_FIELDS.isdisjoint(row):
        return None
    if not _TARGET_FIELDS.isdisjoint(row):
        _target(row, "row", None)
    rid = row.get("id")
    if type(rid) is not str or not rid:
        raise RowValidationError("row.id", "expected a non-empty string", field="id")
    out = {k: v for k, v in row.items() if k not in _NOT_EXTRA}
    created = out.get("created")
    if created is not None:
        out["created"] = _ck_created(created, "row", None)
    return out


def waves(rows: Iterable[ValidatedRow]) -> list[int]:
    """Wave number of each row: 0 for a key's first occurrence in the batch, 1 for its second...

    A request that writes one row key twice should give each wave its own transaction id (in
    wave order), so that no two writes of one key share an `_xact_id` — the dataset version
    table cannot order two versions with equal `_xact_id`.
    """
    seen: dict[tuple[str, str, str], int] = {}
    out = []
    for r in rows:
        ref = r.ref
        k = (ref.object_type, ref.object_id, r.id)  # `r.key`, without building a RowKey
        n = seen.get(k, -1) + 1
        seen[k] = n
        out.append(n)
    return out
