"""What `select: *` expands to: every star field of the rows read (span rows or summary rows),
plus the names `unpivot:` introduced."""

from __future__ import annotations

import functools

from loopline.btql import ast as A
from loopline.btql import bound as Bd
from loopline.btql import schema as S
from loopline.btql.field_refs import span_field, summary_field

# (name, bound field, whether the column is a preview)
StarColumn = tuple[str, Bd.B, bool]
# `select: *` on span rows: (object type, audit_log, fast_json) -> columns (computed once per key)
_SPAN_STAR: dict[tuple[str, bool, bool], list[StarColumn]] = {}


def star_columns(
    object_type: str,
    *,
    summary: bool,
    audit_log: bool,
    fast_json: bool,
    unpivot_names: dict[str, Bd.B],
    summary_used: set[str],
) -> list[StarColumn]:
    """The columns `*` stands for. `audit_log`: span rows include `audit_data`; summary rows add
    the summary columns they read to `summary_used`."""
    out: list[StarColumn] = []
    if summary:
        for sf in S.SUMMARY_FIELDS:
            if sf.name == "object_id":
                name = S.SUMMARY_OBJECT_ID_NAME[object_type]
                out.append((name, summary_field("object_id", (), None, object_type, summary_used), False))
                continue
            if sf.name == "span_count":
                continue
            out.append((sf.name, summary_field(sf.name, (), None, object_type, summary_used), sf.preview))
        out.append(("metrics", summary_field("metrics", (), None, object_type, summary_used), False))
        return out
    key = (object_type, audit_log, fast_json)
    fields = _SPAN_STAR.get(key)
    if fields is None:
        fields = []
        for f in S.SPAN_FIELDS:
            star = f.star or (audit_log and f.name == "audit_data")
            if star and object_type in f.sources:
                fields.append((f.name, span_field(f, (), None, fast_json), False))
        _SPAN_STAR[key] = fields
    out += fields
    for name, b in unpivot_names.items():
        out.append((name, b, False))
    return out


@functools.lru_cache(maxsize=256)
def star_item(name: str) -> A.AliasExpr:
    """The select item `name as name` that `*` expands to (immutable, so shared)."""
    return A.AliasExpr(A.Ident(path=(name,)), name)
