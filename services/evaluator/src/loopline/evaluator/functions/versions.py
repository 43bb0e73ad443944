"""Versions of prompts and functions: transaction ids (`_xact_id`), given by clients either as the
19-digit id or as the SDK's 16-hex "pretty" form (`braintrust.xact_ids.prettify_xact`: the id
times an odd constant modulo 2^64, so the inverse recovers it; the top bits are fixed)."""

from __future__ import annotations

import re

from loopline.common.errors import Invalid
from loopline.common.xact import XACT_PREFIX

_MOD = 1 << 64
_FACTOR = 205891132094649  # odd, so invertible modulo 2^64
_INVERSE = pow(_FACTOR, -1, _MOD)
_DIGITS = re.compile(r"^[0-9]{1,20}$")
_HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")


def pretty_version(xact_id: int | str) -> str:
    """The 16-hex form the SDK shows for a transaction id."""
    return format(int(xact_id) * _FACTOR % _MOD, "016x")


def parse_version(text: str, field: str = "version") -> int:
    """A transaction id from its 19-digit or 16-hex form; `Invalid` naming `field` otherwise."""
    text = text.strip()
    if _HEX16.match(text):  # exactly 16 characters: the pretty form (ids have 19 digits)
        return XACT_PREFIX | (int(text, 16) * _INVERSE % _MOD)
    if _DIGITS.match(text) and int(text) < _MOD:
        return int(text)
    raise Invalid(
        f"{field} {text!r} is neither a transaction id (19 digits) nor a 16-hex version", field=field
    )
