"""What binding a query produces: the bound query and its output columns (read by the compiler)."""

from __future__ import annotations

from dataclasses import dataclass, field

from loopline.btql import ast as A
from loopline.btql import bound as Bd
from loopline.btql.options import SourceRef


@dataclass
class Output:
    """One result column."""

    name: str
    expr: Bd.B
    explicit: bool = False
    hidden: bool = False
    preview: bool = False
    full_name: str = ""  # the item's full text, used when two implicit names collide


@dataclass
class Unpivoted:
    kind: str  # 'object' | 'map' | 'array' | 'json_array'
    source: Bd.B
    names: tuple[str, ...]
    alias: str  # SQL alias (_u0)


@dataclass
class BoundQuery:
    source: SourceRef
    shape: str
    aggregate: bool
    outputs: list[Output]
    ndims: int = 0
    filter: Bd.B | None = None
    filter_spans: Bd.B | None = None
    final_filter: Bd.B | None = None
    sort: list[tuple[Bd.B, str]] = field(default_factory=list)
    limit: int | None = None
    cursor: str | None = None
    sample: A.Sample | None = None
    unpivots: list[Unpivoted] = field(default_factory=list)
    pivot: list[str] = field(default_factory=list)
    preview_length: int | None = None
    summary_used: set[str] = field(default_factory=set)
    warnings: list[dict[str, str]] = field(default_factory=list)
    has_range_filter: bool = False
    # second aggregation stage (final_dimensions / final_measures): `outputs`/`ndims` are the final
    # stage's, these the first stage's (its columns are c0.., the final stage's f0..)
    stage1: list[Output] | None = None
    stage1_ndims: int = 0
    # `infer:` (schema inference over JSON fields): (field name, bound JSON value), rows sampled
    infer: list[tuple[str, Bd.B]] | None = None
    inference_budget: int = 0
