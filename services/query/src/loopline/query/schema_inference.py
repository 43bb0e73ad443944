"""Which JSON paths an object's rows hold, with their types and how often each occurs.

The Loop agent (and users writing BTQL) need to know what `metadata.*`, `input.*`, `scores.*`…
actually contain. Computed in ClickHouse over the object's newest live rows (a bounded sample):
for each JSON field, the top-level JSON type counts, then every nested path of object values with
its ClickHouse-inferred type (`JSONAllPathsWithTypes`) and the fraction of sampled rows having it.
"""

from __future__ import annotations

from typing import Any

from loopline.btql.unparse import ident_text
from loopline.common.logging import get_logger
from loopline.common.schema import JSON_TYPE_SETTINGS
from loopline.common.store.client import StoreQueryError
from loopline.query.reads import ObjectReader, ObjectScope

log = get_logger(__name__)

FIELDS = ("input", "output", "expected", "metadata", "scores", "metrics", "span_attributes", "error")
SAMPLE_ROWS = 10_000
MAX_PATHS_PER_FIELD = 500

_CH_TO_JSON = {
    "Int64": "integer",
    "UInt64": "integer",
    "Float64": "number",
    "String": "string",
    "Bool": "boolean",
    "Date": "string",
    "DateTime64(9)": "string",
}


def json_type(ch_type: str) -> str:
    """A JSON-schema-ish name for a ClickHouse inferred type."""
    t = ch_type.removeprefix("Nullable(").removesuffix(")") if ch_type.startswith("Nullable(") else ch_type
    if t.startswith("Array("):
        return "array"
    return _CH_TO_JSON.get(t, t.lower())


def btql_path(field: str, json_path: str) -> str:
    """The BTQL path of a JSON-type path read with dots in keys escaped (`JSON_TYPE_SETTINGS`):
    `a.b%2Ec` (key `b.c` inside `a`) → `metadata.a."b.c"`; plain keys stay plain."""
    return ident_text((field, *(seg.replace("%2E", ".") for seg in json_path.split("."))))


#: JSON_TYPE_SETTINGS minus those the store said it does not know (an older ClickHouse).
_json_settings: dict[str, Any] = dict(JSON_TYPE_SETTINGS)


async def _paths(reader: ObjectReader, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run a `::JSON` cast query with `JSON_TYPE_SETTINGS` (so keys such as `a.b` next to
    `a: {b: ...}` never collide), going on without any setting the store does not know."""
    while True:
        try:
            _, rows = await reader.store.query(sql, params, settings=dict(_json_settings))
            return rows
        except StoreQueryError as exc:
            unknown = next((k for k in _json_settings if f"'{k}'" in str(exc)), None)
            if exc.code != 115 or unknown is None:
                raise
            log.warning("the store does not know a JSON setting; inferring without it", setting=unknown)
            del _json_settings[unknown]


async def infer_schema(reader: ObjectReader, scope: ObjectScope, sample: int = SAMPLE_ROWS) -> dict[str, Any]:
    cols = ", ".join(("created", *FIELDS))
    inner, params = reader.current_rows_sql(scope, None, cols)
    sampled = f"SELECT {', '.join(FIELDS)} FROM ({inner}) ORDER BY created DESC LIMIT {int(sample)}"
    _, total_rows = await reader.store.query(f"SELECT count() FROM ({sampled})", params)
    total = int(total_rows[0][0]) if total_rows else 0
    fields: dict[str, Any] = {}
    for f in FIELDS:
        _, tops = await reader.store.query(
            f"SELECT JSONType({f}) AS t, count() FROM ({sampled}) WHERE {f} != '' GROUP BY t ORDER BY count() DESC",
            params,
        )
        present = sum(int(n) for _, n in tops)
        if not present:
            continue
        partial = False
        try:
            paths = await _paths(
                reader,
                f"SELECT path, type, count() AS n FROM ("
                f"SELECT JSONAllPathsWithTypes({f}::JSON) AS m FROM ({sampled}) WHERE JSONType({f}) = 'Object'"
                f") ARRAY JOIN mapKeys(m) AS path, mapValues(m) AS type "
                f"GROUP BY path, type ORDER BY n DESC, path LIMIT {MAX_PATHS_PER_FIELD}",
                params,
            )
        except StoreQueryError as exc:
            # data the JSON type cannot hold (should not happen with the settings above): the
            # field's top-level types are still right; its paths are left out, and said so
            log.warning("schema inference: paths of a field left out", field=f, error=str(exc)[:300])
            paths, partial = [], True
        by_path: dict[str, dict[str, Any]] = {}
        for path, ch_type, n in paths:
            name = btql_path(f, path)
            entry = by_path.setdefault(name, {"path": name, "types": {}, "count": 0})
            jt = json_type(ch_type)
            entry["types"][jt] = entry["types"].get(jt, 0) + int(n)
            entry["count"] += int(n)
        fields[f] = {
            "count": present,
            "frequency": present / total if total else 0.0,
            "types": {str(t).lower(): int(n) for t, n in tops},
            "paths": sorted(
                ({**e, "frequency": e["count"] / total if total else 0.0} for e in by_path.values()),
                key=lambda e: (-e["count"], e["path"]),
            ),
        }
        if partial:
            fields[f]["paths_incomplete"] = True
    return {"object_type": scope.object_type, "sampled_rows": total, "fields": fields}
