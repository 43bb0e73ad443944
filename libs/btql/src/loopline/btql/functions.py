"""The BTQL function catalogue: one `FunctionSpec` per function the compiler supports.

The one place to add a function. Read by:
- the binder (`bind_functions.py`): arity, DISTINCT and `*` checks, argument-kind checks and the
  result type of the plain functions; functions with odd rules name a bind hook (`hook`), a
  `bind_*` function of `bind_functions.py` that does the rest;
- the generator (`generator.py`): `render` is the ClickHouse template of a plain function
  (`{0}`, `{1}`: arguments rendered in their mode; `{args}`: all of them, comma-separated);
  functions without a template are rendered by a generator method named after their bound
  name (`sql_name`);
- "did you mean" for unknown functions (`NAMES`);
- the docs: `function_docs()` lists every function with its signature and summary (for the
  reference and the Loop agent's search-docs tool).

Argument kinds (`ArgKind`) say what a function accepts; `check` kinds are verified by the binder
from the spec, the others (`LITERAL_KINDS`) by the function's hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from loopline.btql import schema as S

FunctionKind = Literal["scalar", "aggregate", "span"]
ArgKind = Literal[
    "any",  # any value
    "timestamp",  # a timestamp, or text read as one
    "text",  # a string (or JSON / null)
    "number",  # a number (or JSON, bool, null, transaction id)
    "scalar",  # not an array, object or interval
    "collection",  # an array, object or string
    "convertible",  # anything but an object map or interval
    "predicate",  # a boolean condition
    "unit",  # a string literal naming a date unit
    "string_literal",  # a string literal
    "int_literal",  # an integer literal
    "probability",  # a number literal in [0, 1]
    "interval_text",  # an interval, or a string literal such as '3 hours'
]
#: kinds a hook checks itself (literals are read from the syntax tree, not bound)
LITERAL_KINDS: frozenset[str] = frozenset(
    {"unit", "string_literal", "int_literal", "probability", "interval_text"}
)
#: date units of the date-part functions and `date_trunc`
DATE_UNITS: tuple[str, ...] = ("second", "minute", "hour", "day", "week", "month", "year")


@dataclass(frozen=True, slots=True)
class Arg:
    name: str
    kind: ArgKind


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    kind: FunctionKind
    args: tuple[Arg, ...]
    result: str  # a schema type (S.*), or "unified" (common type of the arguments), "argument"
    group: str  # docs group (Date/time, String, ...)
    summary: str
    min_args: int = -1  # default: len(args)
    variadic: bool = False  # the last argument repeats
    render: str | None = None  # ClickHouse template of a plain function (see the module docstring)
    sql_name: str | None = None  # the bound function's name (default: `name`)
    arg_mode: str | None = None  # the mode every argument renders in (plain functions)
    opt: str | None = None  # a fixed option of the bound function (the date part's unit)
    hook: str | None = None  # the `bind_functions` function that binds it (odd rules)
    aliases_of: str | None = None  # documented as an alias of another function

    @property
    def lo(self) -> int:
        return len(self.args) if self.min_args < 0 else self.min_args

    @property
    def hi(self) -> int:
        """Most arguments (99 for variadic functions)."""
        return 99 if self.variadic else len(self.args)

    @property
    def bound_name(self) -> str:
        return self.sql_name or self.name

    def arg(self, i: int) -> Arg:
        return self.args[min(i, len(self.args) - 1)]

    def signature(self) -> str:
        parts = []
        for i, a in enumerate(self.args):
            text = a.name
            if i >= self.lo:
                text = f"[{text}]"
            parts.append(text)
        if self.variadic:
            parts.append("…")
        return f"{self.name}({', '.join(parts)})"


def _date_part(unit: str) -> FunctionSpec:
    return FunctionSpec(
        unit,
        "scalar",
        (Arg("ts", "timestamp"),),
        S.DATETIME,
        "Date/time",
        f"the timestamp truncated to its {unit} (in the request's time zone)",
        sql_name="trunc",
        arg_mode="datetime",
        opt=unit,
    )


_V = (Arg("value", "any"),)
_CONVERT = (Arg("value", "convertible"),)
_VALUES = (Arg("v1", "any"), Arg("v2", "any"))

FUNCTIONS: tuple[FunctionSpec, ...] = (
    # -------------------------------------------------------------------------------- scalars
    *(_date_part(u) for u in DATE_UNITS),
    FunctionSpec(
        "date_trunc",
        "scalar",
        (Arg("unit", "unit"), Arg("ts", "timestamp")),
        S.DATETIME,
        "Date/time",
        "the timestamp truncated to the unit ('second', 'minute', 'hour', 'day', 'week', 'month', 'year')",
        hook="bind_date_trunc",
    ),
    FunctionSpec(
        "now", "scalar", (), S.DATETIME, "Date/time", "the current time (UTC)", render="now64(6, 'UTC')"
    ),
    FunctionSpec(
        "current_timestamp",
        "scalar",
        (),
        S.DATETIME,
        "Date/time",
        "the current time (UTC)",
        sql_name="now",
        aliases_of="now",
    ),
    FunctionSpec(
        "current_date",
        "scalar",
        (),
        S.DATETIME,
        "Date/time",
        "the start of the current day",
        sql_name="today",
    ),
    FunctionSpec(
        "lower",
        "scalar",
        (Arg("text", "text"),),
        S.STRING,
        "String",
        "the text in lower case",
        render="lower({0})",
        arg_mode="string",
    ),
    FunctionSpec(
        "upper",
        "scalar",
        (Arg("text", "text"),),
        S.STRING,
        "String",
        "the text in upper case",
        render="upper({0})",
        arg_mode="string",
    ),
    FunctionSpec(
        "concat",
        "scalar",
        (Arg("t1", "scalar"),),
        S.STRING,
        "String",
        "the values as text, joined",
        variadic=True,
        render="concat({args})",
        arg_mode="string",
    ),
    FunctionSpec(
        "len",
        "scalar",
        (Arg("value", "collection"),),
        S.INTEGER,
        "Array",
        "the number of elements of an array, keys of an object or characters of a string",
    ),
    FunctionSpec(
        "contains",
        "scalar",
        (Arg("array", "any"), Arg("value", "any")),
        S.BOOL,
        "Array",
        "whether the array holds the value (as `array INCLUDES value`)",
        hook="bind_contains",
    ),
    FunctionSpec(
        "includes",
        "scalar",
        (Arg("array", "any"), Arg("value", "any")),
        S.BOOL,
        "Array",
        "whether the array holds the value (as `array INCLUDES value`)",
        hook="bind_contains",
        aliases_of="contains",
    ),
    FunctionSpec(
        "json_extract",
        "scalar",
        (Arg("json_text", "text"), Arg("path", "string_literal")),
        S.JSON,
        "JSON",
        "the value at the key of JSON text",
        hook="bind_json_extract",
    ),
    FunctionSpec(
        "coalesce",
        "scalar",
        (Arg("v1", "any"),),
        "unified",
        "Null handling",
        "the first non-null value",
        variadic=True,
        hook="bind_coalesce",
    ),
    FunctionSpec(
        "nullif",
        "scalar",
        _VALUES,
        "unified",
        "Null handling",
        "null when v1 = v2, else v1",
        hook="bind_nullif",
    ),
    FunctionSpec(
        "least",
        "scalar",
        (Arg("v1", "any"),),
        "unified",
        "Null handling",
        "the smallest non-null value",
        variadic=True,
        hook="bind_coalesce",
    ),
    FunctionSpec(
        "greatest",
        "scalar",
        (Arg("v1", "any"),),
        "unified",
        "Null handling",
        "the largest non-null value",
        variadic=True,
        hook="bind_coalesce",
    ),
    FunctionSpec(
        "round",
        "scalar",
        (Arg("number", "number"), Arg("precision", "int_literal")),
        S.NUMBER,
        "Numeric",
        "the number rounded to `precision` decimal places (default 0)",
        min_args=1,
        hook="bind_round",
    ),
    FunctionSpec("to_string", "scalar", _CONVERT, S.STRING, "Cast", "the value as a string"),
    FunctionSpec("to_boolean", "scalar", _CONVERT, S.BOOL, "Cast", "the value as a boolean"),
    FunctionSpec("to_integer", "scalar", _CONVERT, S.INTEGER, "Cast", "the value as an integer"),
    FunctionSpec("to_number", "scalar", _CONVERT, S.NUMBER, "Cast", "the value as a number"),
    FunctionSpec("to_date", "scalar", _CONVERT, S.DATETIME, "Cast", "the value as a date (start of its day)"),
    FunctionSpec("to_datetime", "scalar", _CONVERT, S.DATETIME, "Cast", "the value as a timestamp"),
    FunctionSpec(
        "to_interval",
        "scalar",
        (Arg("text", "interval_text"),),
        S.INTERVAL,
        "Cast",
        "an interval from text such as '3 hours'",
        hook="bind_to_interval",
    ),
    FunctionSpec(
        "isnull", "scalar", _V, S.BOOL, "Null handling", "whether the value is null", hook="bind_isnull"
    ),
    FunctionSpec(
        "isnotnull",
        "scalar",
        _V,
        S.BOOL,
        "Null handling",
        "whether the value is not null",
        hook="bind_isnull",
    ),
    FunctionSpec(
        "search",
        "scalar",
        (Arg("query", "string_literal"),),
        S.BOOL,
        "Search",
        "input, output, expected, metadata or span_attributes MATCH the query",
        hook="bind_search",
    ),
    FunctionSpec(
        "estimated_cost",
        "scalar",
        (),
        S.NUMBER,
        "Cost",
        "the span's estimated cost (metrics.estimated_cost)",
        hook="bind_estimated_cost",
    ),
    # -------------------------------------------------------------------------------- aggregates
    FunctionSpec(
        "count",
        "aggregate",
        (Arg("value", "any"),),
        S.INTEGER,
        "Aggregate",
        "the number of rows where the value is not null (count(*), count(1): all rows)",
        min_args=0,
        render="toInt64(count({0}))",
        hook="bind_aggregate",
    ),
    FunctionSpec(
        "count_distinct",
        "aggregate",
        _V,
        S.INTEGER,
        "Aggregate",
        "the number of distinct non-null values",
        render="toInt64(uniqExact({0}))",
        hook="bind_aggregate",
    ),
    FunctionSpec(
        "sum",
        "aggregate",
        (Arg("value", "number"),),
        "argument",
        "Aggregate",
        "the sum",
        render="sumOrNull({0})",
        hook="bind_aggregate",
    ),
    FunctionSpec(
        "avg",
        "aggregate",
        (Arg("value", "number"),),
        S.NUMBER,
        "Aggregate",
        "the mean",
        render="avgOrNull({0})",
        hook="bind_aggregate",
    ),
    FunctionSpec(
        "min",
        "aggregate",
        _V,
        "argument",
        "Aggregate",
        "the smallest value",
        render="minOrNull({0})",
        hook="bind_aggregate",
    ),
    FunctionSpec(
        "max",
        "aggregate",
        _V,
        "argument",
        "Aggregate",
        "the largest value",
        render="maxOrNull({0})",
        hook="bind_aggregate",
    ),
    FunctionSpec(
        "percentile",
        "aggregate",
        (Arg("value", "number"), Arg("p", "probability")),
        S.NUMBER,
        "Aggregate",
        "the p-quantile (p in [0, 1])",
        render="quantileOrNull({p})({0})",
        hook="bind_aggregate",
    ),
    FunctionSpec(
        "any_value",
        "aggregate",
        _V,
        "argument",
        "Aggregate",
        "an arbitrary non-null value of the group",
        render="any({0})",
        hook="bind_aggregate",
    ),
    # -------------------------------------------------------------------------------- span wrappers
    FunctionSpec(
        "any_span",
        "span",
        (Arg("condition", "predicate"),),
        S.BOOL,
        "Span wrappers",
        "in 'filter:', whether any span of the row's trace matches the condition",
        hook="bind_span_function",
    ),
    FunctionSpec(
        "filter_spans",
        "span",
        (Arg("condition", "predicate"),),
        S.BOOL,
        "Span wrappers",
        "in 'filter:', keep only the spans matching the condition (traces and summary shapes)",
        hook="bind_span_function",
    ),
)

BY_NAME: dict[str, FunctionSpec] = {f.name: f for f in FUNCTIONS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
AGGREGATE_NAMES: frozenset[str] = frozenset(f.name for f in FUNCTIONS if f.kind == "aggregate")
SCALAR_NAMES: frozenset[str] = frozenset(f.name for f in FUNCTIONS if f.kind == "scalar")
#: ClickHouse templates by bound name (plain scalars and aggregates), for the generator
TEMPLATES: dict[str, str] = {f.bound_name: f.render for f in FUNCTIONS if f.render is not None}


def lookup(name: str) -> FunctionSpec | None:
    return BY_NAME.get(name)


def function_docs() -> list[dict[str, str]]:
    """Every function: name, kind, group, signature, result type and summary (docs, agent tools)."""
    out = []
    for f in FUNCTIONS:
        doc = {
            "name": f.name,
            "kind": f.kind,
            "group": f.group,
            "signature": f.signature(),
            "result": f.result,
            "summary": f.summary,
        }
        if f.aliases_of:
            doc["alias_of"] = f.aliases_of
        out.append(doc)
    return out


__all__ = [
    "AGGREGATE_NAMES",
    "BY_NAME",
    "DATE_UNITS",
    "FUNCTIONS",
    "LITERAL_KINDS",
    "NAMES",
    "SCALAR_NAMES",
    "TEMPLATES",
    "Arg",
    "ArgKind",
    "FunctionSpec",
    "function_docs",
    "lookup",
]
