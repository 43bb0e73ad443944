"""Bound references to the row schema's fields: a field of span rows (`span_field`) or of
summary rows (`summary_field`), with an optional sub-path (`metadata.model`, `tags[0]`)."""

from __future__ import annotations

import difflib
import re

from loopline.btql import ast as A
from loopline.btql import bound as Bd
from loopline.btql import schema as S
from loopline.btql.errors import BindError, bind_error, type_error
from loopline.btql.unparse import ident_text

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# JSON fields whose top level is always an object
_OBJECT_ROOTS = ("scores", "metadata", "metrics", "span_attributes", "origin", "context")
Path = tuple[str | int, ...]


def span_field(f: S.Field, rest: Path, node: A.Expr | None, fast_json: bool) -> Bd.B:
    """Field `f` of span rows, then the sub-path `rest`. `fast_json`: plain JSON paths may read
    the field's typed fast column (`Field.json_fast`)."""
    if f.type == S.JSON:
        if not rest:
            if f.json_prefix:
                return Bd.BJson(S.JSON, base=f.sql, path=f.json_prefix)
            return Bd.BJson(S.JSON, base=f.sql, root_kind="object" if f.name in _OBJECT_ROOTS else "any")
        if len(rest) == 1 and isinstance(rest[0], str):
            if f.map_col:
                return Bd.BMapGet(S.NUMBER, col=f.map_col, key=rest[0])
            for sub, sql, typ in f.subfields:
                if sub == rest[0]:
                    return Bd.BCol(typ, sql=sql)
        fast = None
        if f.json_fast and fast_json and all(isinstance(s, str) and _PLAIN.match(s) for s in rest):
            fast = f.json_fast
        return Bd.BJson(S.JSON, base=f.sql, path=f.json_prefix + rest, fast=fast)
    if f.type == S.ARRAY:
        if not rest:
            return Bd.BCol(S.ARRAY, sql=f.sql, nonnull=True)
        if len(rest) == 1 and isinstance(rest[0], int):
            return Bd.BArrayIdx(S.STRING, arr=Bd.BCol(S.ARRAY, sql=f.sql, nonnull=True), index=rest[0])
        raise type_error(f"'{f.name}' is an array of strings; index it like {f.name}[0]", node)
    if rest:
        raise type_error(f"'{f.name}' is a {f.type}; it has no sub-fields", node)
    return Bd.BCol(f.type, sql=f.sql, nonnull=f.nonnull, sort_sql=f.sort_sql)


def summary_field(name: str, rest: Path, node: A.Expr | None, object_type: str, used: set[str]) -> Bd.B:
    """Field `name` of summary rows of `object_type`, then the sub-path `rest`; adds the summary
    columns it reads to `used`."""
    if name in ("log_id", "experiment_id", "dataset_id"):
        if name != S.SUMMARY_OBJECT_ID_NAME[object_type]:
            raise bind_error(f"field '{name}' is not available on {object_type} rows", node)
        name = "object_id"
    if name == "_pagination_key":
        used.add("created")
        return Bd.BCol(
            S.STRING,
            sql="concat('p', leftPad(toString(toUnixTimestamp64Micro(_s_created)), 20, '0'), ':', _s_root_span_id)",
            nonnull=True,
            sort_sql=("_s_created", "_s_root_span_id"),
        )
    if name == "metrics":
        if not rest:
            used.add("metrics")
            return Bd.BJson(S.JSON, base="_s_metrics", root_kind="object")
        key = rest[0]
        if len(rest) != 1 or not isinstance(key, str) or key not in S.SUMMARY_METRIC_BY_NAME:
            close = difflib.get_close_matches(str(key), list(S.SUMMARY_METRIC_BY_NAME), n=1)
            hint = f"; did you mean 'metrics.{close[0]}'?" if close else ""
            raise bind_error(f"unknown summary metric '{ident_text(('metrics', *rest))}'{hint}", node)
        used.add("m_" + key)
        return Bd.BCol(S.SUMMARY_METRIC_BY_NAME[key][1], sql=f"_s_m_{key}")
    sf = S.SUMMARY_BY_NAME.get(name)
    if sf is None:
        raise unknown_field(name, [*list(S.SUMMARY_BY_NAME), "metrics", "_pagination_key"], node)
    used.add(name)
    col = f"_s_{name}"
    if sf.type == S.JSON:
        return Bd.BJson(S.JSON, base=col, path=rest, root_kind="object" if name != "input" else "any")
    if sf.type == S.MAP:
        if not rest:
            return Bd.BCol(S.MAP, sql=col, nonnull=True)
        if len(rest) == 1 and isinstance(rest[0], str):
            return Bd.BMapGet(S.NUMBER, col=col, key=rest[0])
        raise type_error(f"'{name}' values are numbers; they have no sub-fields", node)
    if sf.type == S.ARRAY:
        if not rest:
            return Bd.BCol(S.ARRAY, sql=col, nonnull=True)
        if len(rest) == 1 and isinstance(rest[0], int):
            return Bd.BArrayIdx(S.STRING, arr=Bd.BCol(S.ARRAY, sql=col, nonnull=True), index=rest[0])
        raise type_error(f"'{name}' is an array of strings; index it like {name}[0]", node)
    if rest:
        raise type_error(f"'{name}' is a {sf.type}; it has no sub-fields", node)
    return Bd.BCol(sf.type, sql=col, nonnull=sf.nonnull, sort_sql=(col,) if sf.nonnull else ())


def unknown_field(name: str, known: list[str], node: object) -> BindError:
    """The error for an unknown field, with the closest known name as a hint."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return bind_error(f"unknown field '{name}'{hint}", node)
