"""The output columns of one aggregation stage (or of a rows query) while they are bound: their
names (explicit aliases, implicit names, collisions renamed by full path), the duplicate and
column-count checks, and references to them by name (sort, final_filter).
"""

from __future__ import annotations

from loopline.btql import ast as A
from loopline.btql import bound as Bd
from loopline.btql import schema as S
from loopline.btql.bound_query import Output
from loopline.btql.errors import bind_error, type_error
from loopline.btql.unparse import ident_text, to_text

# Result columns of one query (after `*` expands): every column costs binding, SQL, the store's
# work and the response's size once per row; no real query comes near this.
MAX_COLUMNS = 1000


def implicit_name(e: A.Expr) -> str:
    """The name of an unaliased item: a path's last name, else the expression's text."""
    if isinstance(e, A.Ident):
        strs = [s for s in e.path if isinstance(s, str)]
        return strs[-1] if strs else to_text(e)
    return to_text(e)


class OutputColumns:
    """Outputs in order, plus indexes by name. `prefix` is the SQL alias prefix of the columns
    ("c" for the first stage or a rows query, "f" for the final aggregation stage)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.items: list[Output] = []
        self.by_name: dict[str, list[int]] = {}  # name -> indexes of the outputs it names
        # the output names in use (name -> how many outputs carry it) and, per base name, the
        # lowest `_<i>` suffix that may still be free: unique names without rescanning outputs
        self._taken: dict[str, int] = {}
        self._next_suffix: dict[str, int] = {}

    def check_aliases(self, items: list[A.AliasExpr], extend: bool = False) -> None:
        """Check explicit duplicates (documented error) before binding. `extend`: the items are
        added to the outputs bound so far, whose names are taken too."""
        seen: dict[str, A.AliasExpr] = {}
        for it in items:
            if it.alias is not None:
                if it.alias in seen or (extend and it.alias in self._taken):
                    raise bind_error(f"duplicate alias '{it.alias}'", it.expr)
                seen[it.alias] = it
        for it in items:
            if it.alias is None:
                name = implicit_name(it.expr)
                prev = seen.get(name)
                if prev is not None and prev.alias is not None:
                    raise bind_error(f"duplicate alias '{name}'", it.expr)

    def add(
        self, it: A.AliasExpr, b: Bd.B, *, preview: bool = False, star: bool = False, at: object = None
    ) -> None:
        """Add the bound item `it` (`star`: one field `*` expanded to, at `at`)."""
        if b.type == S.INTERVAL:
            raise type_error("an interval is not a value; add it to a timestamp", it.expr)
        if len(self.items) >= MAX_COLUMNS:
            raise bind_error(
                f"a query returns at most {MAX_COLUMNS} columns"
                + (" ('*' expands to every field)" if star else ""),
                at if at is not None else it.expr,
            )
        explicit = it.alias is not None and not star
        name = it.alias if it.alias is not None else implicit_name(it.expr)
        full = (
            name
            if explicit or star
            else ident_text(it.expr.path)
            if isinstance(it.expr, A.Ident)
            else to_text(it.expr)
        )
        group = self.by_name.get(name)
        if group is not None:
            # two implicit names collide: name both by their full path; references become ambiguous.
            # Only the group's first output can be explicit or still carry the short name: every
            # later one was added here, implicit and named by its full path.
            if explicit or self.explicitly_named(name):
                raise bind_error(f"duplicate alias '{name}'", it.expr)
            if len(group) == 1:
                first = self.items[group[0]]
                if first.name == name and first.full_name != name:
                    self._rename(first, self._unique(first.full_name))
            group.append(len(self.items))
            self._append(Output(self._unique(full), b, explicit=False, preview=preview, full_name=full))
            return
        self.by_name[name] = [len(self.items)]
        self._append(Output(name, b, explicit=explicit, preview=preview, full_name=full))

    def explicitly_named(self, name: str) -> bool:
        """Whether an explicit alias already names `name` (it is then the first of its group)."""
        group = self.by_name.get(name)
        return group is not None and self.items[group[0]].explicit

    def ref(self, name: str, idx: list[int], node: A.Expr) -> Bd.B:
        """A reference to the output `name` (whose indexes are `idx`)."""
        if len(idx) > 1:
            raise bind_error(f"'{name}' is ambiguous: it names more than one column", node)
        o = self.items[idx[0]]
        nonnull = isinstance(o.expr, Bd.BCol) and o.expr.nonnull
        return Bd.BOutRef(
            o.expr.type, index=idx[0], alias=f"{self.prefix}{idx[0]}", nonnull=nonnull, agg=o.expr.agg
        )

    def _append(self, o: Output) -> None:
        self.items.append(o)
        self._taken[o.name] = self._taken.get(o.name, 0) + 1

    def _rename(self, o: Output, name: str) -> None:
        left = self._taken[o.name] - 1
        if left:
            self._taken[o.name] = left
        else:  # the name is free again: a suffix search of its base may now find it
            del self._taken[o.name]
            base, _, digits = o.name.rpartition("_")
            if digits.isdigit():
                self._next_suffix.pop(base, None)
        o.name = name
        self._taken[name] = self._taken.get(name, 0) + 1

    def _unique(self, base: str) -> str:
        """`base`, or `base_<i>` with the lowest i >= 1 no output name takes."""
        taken = self._taken
        if base not in taken:
            return base
        i = self._next_suffix.get(base, 1)
        while f"{base}_{i}" in taken:
            i += 1
        self._next_suffix[base] = i  # every lower suffix is taken (until a rename frees one)
        return f"{base}_{i}"
