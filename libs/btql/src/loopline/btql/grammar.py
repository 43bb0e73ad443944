"""The lark grammar of BTQL: pipe/clause syntax, SQL syntax, and bare expressions.

One LALR(1) grammar with three start symbols (`btql`, `sql`, `expr_only`) and lark's contextual
lexer, so keywords are only keywords where the parser can accept them (`metadata.select` and
`metadata.limit` are plain paths). A clause head is one token, `<clause keyword> :`, which is
how clauses are recognized with or without `|` / newline separators.

Precedence (lowest first, spec §2.4): `? :`, OR, AND, NOT, predicates (comparison, [NOT]
LIKE/ILIKE/MATCH/IN/INCLUDES, IS [NOT] NULL), `+ -`, `* / %`, unary `-`, postfix (`.`, `[]`).
"""

from __future__ import annotations

from loopline.btql.ast import CLAUSES

# Operator keywords: never a field name when unquoted (`x = NOT -1` is an error, not a field named
# "not"; backticks make one). Other keywords stay usable as names (`metadata.select`, `end`).
_OPERATOR_KEYWORDS = [
    "and",
    "or",
    "not",
    "like",
    "ilike",
    "match",
    "in",
    "includes",
    "contains",
    "is",
    "null",
    "true",
    "false",
    "interval",
    "distinct",
    "case",
    "when",
    "then",
    "else",
]

_KEYWORDS = [
    *_OPERATOR_KEYWORDS,
    "as",
    "asc",
    "desc",
    "end",
    "spans",
    "traces",
    "summary",
    "seed",
    "select",
    "from",
    "where",
    "group",
    "by",
    "having",
    "order",
    "limit",
    "offset",
    "unpivot",
    "pivot",
    "for",
    "against",
]
OPERATOR_WORDS = frozenset(_OPERATOR_KEYWORDS)

INTERVAL_UNITS = ("year", "month", "week", "day", "hour", "minute", "second", "millisecond", "microsecond")


def _clause_terminals() -> str:
    lines = []
    for kw in CLAUSES:
        lines.append(f"{kw.upper()}_H.3: /{kw}[ \\t\\r\\n]*:/i")
    return "\n".join(lines)


def _keyword_terminals() -> str:
    return "\n".join(f'{kw.upper()}: "{kw}"i' for kw in _KEYWORDS)


GRAMMAR = r"""
// ------------------------------------------------------------------ pipe / clause syntax
btql: (_PIPE | clause)+

clause: SELECT_H select_items                  -> c_select
      | DIMENSIONS_H alias_items               -> c_dimensions
      | MEASURES_H alias_items                 -> c_measures
      | PIVOT_H alias_items                    -> c_pivot
      | UNPIVOT_H unpivot_item ("," unpivot_item)*  -> c_unpivot
      | INFER_H infer_item ("," infer_item)*   -> c_infer
      | FROM_H source [shape]                  -> c_from
      | FILTER_H expr                          -> c_filter
      | SPAN_FILTER_H expr                     -> c_span_filter
      | TRACE_FILTER_H expr                    -> c_trace_filter
      | FINAL_FILTER_H expr                    -> c_final_filter
      | SORT_H sort_items                      -> c_sort
      | LIMIT_H INT                            -> c_limit
      | CURSOR_H string                        -> c_cursor
      | COMPARISON_KEY_H expr                  -> c_comparison_key
      | WEIGHTED_SCORES_H alias_items          -> c_weighted_scores
      | CUSTOM_COLUMNS_H alias_items           -> c_custom_columns
      | PREVIEW_LENGTH_H signed_int            -> c_preview_length
      | INFERENCE_BUDGET_H INT                 -> c_inference_budget
      | SAMPLE_H number [PERCENT] [SEED INT]   -> c_sample
      | FINAL_DIMENSIONS_H alias_items         -> c_final_dimensions
      | FINAL_MEASURES_H alias_items           -> c_final_measures

select_items: select_item ("," select_item)*
?select_item: STAR                             -> star_item
            | alias_item
alias_items: alias_item ("," alias_item)*
alias_item: expr [AS alias_name]
alias_name: NAME | DQ_STRING | BQ_NAME | SQ_STRING
unpivot_item: expr AS "(" alias_name ["," alias_name] ")"
infer_item: STAR | expr
sort_items: sort_item ("," sort_item)*
sort_item: expr [ASC | DESC]

source: NAME "(" [source_arg ("," source_arg)*] ")"   -> source_call
      | NAME                                         -> source_name
source_arg: expr
          | NAME ARROW expr                          -> named_arg
shape: SPANS | TRACES | SUMMARY

// ------------------------------------------------------------------ SQL syntax
sql: SELECT sql_select_items FROM source sql_unpivot* [WHERE expr] [GROUP BY group_items] [HAVING expr] [sql_pivot] [ORDER BY sort_items] [LIMIT INT] [OFFSET string] [SEMI]
sql_select_items: select_item ("," select_item)*
sql_unpivot: UNPIVOT "(" alias_name FOR alias_name IN "(" expr ")" ")"
sql_pivot: PIVOT "(" alias_items FOR additive IN in_list ")"
group_items: expr ("," expr)*

// ------------------------------------------------------------------ expressions
expr_only: expr

?expr: or_expr
     | or_expr "?" expr ":" expr                -> ternary
?or_expr: and_expr
        | or_expr OR and_expr                   -> or_
?and_expr: not_expr
         | and_expr AND not_expr                -> and_
?not_expr: predicate
         | NOT not_expr                         -> not_
?predicate: additive
          | additive CMP additive               -> compare
          | additive [NOT] LIKE additive        -> like
          | additive [NOT] ILIKE additive       -> ilike
          | additive [NOT] MATCH additive       -> match_
          | additive [NOT] (INCLUDES | CONTAINS) additive  -> includes
          | additive [NOT] IN in_list           -> in_
          | additive IS [NOT] NULL              -> is_null
?additive: mult
         | additive (PLUS | MINUS) mult         -> arith
?mult: unary
     | mult (STAR | SLASH | PERCENT) unary      -> arith
?unary: primary
      | MINUS unary                             -> neg
      | PLUS unary                              -> pos
?primary: primary "." segment                   -> dot
        | primary "[" index "]"                 -> subscript
        | literal
        | INTERVAL signed_int UNIT              -> interval
        | NAME "(" [call_args] ")"              -> call
        | (INCLUDES | CONTAINS) "(" [call_args] ")"  -> call_keyword
        | MATCH "(" expr ("," expr)* ")" AGAINST "(" expr ")"  -> match_against
        | NAME                                  -> name
        | BQ_NAME                               -> name
        | "(" expr ")"
        | "[" [expr ("," expr)*] "]"            -> array
        | CASE (WHEN expr THEN expr)+ [ELSE expr] END  -> case
call_args: STAR                                 -> call_star
         | [DISTINCT] expr ("," expr)*          -> call_exprs
in_list: "[" [expr ("," expr)*] "]"
       | "(" expr ("," expr)* ")"
segment: NAME | DQ_STRING | BQ_NAME
index: signed_int | string
signed_int: [MINUS] INT
number: INT | FLOAT
string: SQ_STRING | DQ_STRING
?literal: SQ_STRING                             -> sq_string
        | DQ_STRING                             -> dq_string
        | INT                                   -> int_
        | FLOAT                                 -> float_
        | TRUE                                  -> true_
        | FALSE                                 -> false_
        | NULL                                  -> null_

// ------------------------------------------------------------------ terminals
CMP: /<!=>|<=>|<=|>=|<>|!=|==|=|<|>/
ARROW.2: "=>"
PLUS: "+"
MINUS: "-"
STAR: "*"
SLASH: "/"
PERCENT: "%"
SEMI: ";"
_PIPE: "|"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
BQ_NAME: /`(?:[^`]|``)*`/
SQ_STRING: /'(?:[^']|'')*'/
DQ_STRING: /"(?:[^"\\]|\\.|"")*"/s
INT: /[0-9]+/
FLOAT.2: /(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+/
UNIT: /(?:year|month|week|day|hour|minute|second|millisecond|microsecond)s?(?![A-Za-z0-9_])/i
COMMENT: /--[^\n]*/ | /\/\*(?:.|\n)*?\*\//
%ignore COMMENT
%ignore /[ \t\r\n\f]+/
"""

FULL_GRAMMAR = GRAMMAR + "\n" + _clause_terminals() + "\n" + _keyword_terminals() + "\n"

# Human names of terminals, for "expected ..." in parse errors.
TERMINAL_NAMES: dict[str, str] = {
    "CMP": "a comparison operator",
    "ARROW": "'=>'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "PERCENT": "'%'",
    "SEMI": "';'",
    "_PIPE": "'|'",
    "NAME": "a name",
    "BQ_NAME": "a `quoted` name",
    "SQ_STRING": "a string",
    "DQ_STRING": "a string",
    "INT": "an integer",
    "FLOAT": "a number",
    "UNIT": "an interval unit (" + ", ".join(INTERVAL_UNITS) + ")",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "DOT": "'.'",
    "COLON": "':'",
    "QMARK": "'?'",
    "$END": "end of query",
}
for _kw in CLAUSES:
    TERMINAL_NAMES[f"{_kw.upper()}_H"] = f"'{_kw}:'"
for _kw in _KEYWORDS:
    TERMINAL_NAMES[_kw.upper()] = _kw.upper()
