"""The fuzz suite's own machinery (no server): the hostile-JSON encoder and the shrinker."""

from __future__ import annotations

import gzip
import random

import orjson
import pytest

from tests.support.fuzz_bodies import logs3_case, otlp_json_case, otlp_protobuf_case
from tests.support.fuzz_client import Case
from tests.support.fuzz_json import Nest, Raw, describe, encode, shrink


def test_encoder_writes_what_no_json_library_would() -> None:
    assert encode({"a": [1, None, True, "x"]}) == b'{"a":[1,null,true,"x"]}'
    assert encode(2**64) == b"18446744073709551616"
    assert encode(Raw(b"1e309")) == b"1e309"
    assert encode({Raw(b'"\xff"'): 1}) == b'{"\xff":1}'
    assert encode("\ud800") == b'"\xed\xa0\x80"'  # a lone surrogate: invalid UTF-8
    deep = encode(Nest(5000, 1))
    assert deep == b"[" * 5000 + b"1" + b"]" * 5000
    assert encode(Nest(2, "x", "dict")) == b'{"k":{"k":"x"}}'


def _plain(rng: random.Random, depth: int = 0) -> object:
    k = rng.randrange(8 if depth < 4 else 5)
    if k == 0:
        return rng.randrange(-(2**63), 2**63)
    if k == 1:
        return rng.uniform(-1e300, 1e300)
    if k == 2:
        return "".join(
            chr(rng.choice([rng.randrange(32, 127), rng.randrange(0xA0, 0xD7FF)])) for _ in range(5)
        )
    if k == 3:
        return rng.choice([None, True, False])
    if k == 4:
        return ""
    if k == 5:
        return [_plain(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {f"k{i}\u00e9": _plain(rng, depth + 1) for i in range(rng.randrange(4))}


def test_encoder_round_trips_plain_json() -> None:
    rng = random.Random(1)
    for _ in range(500):
        v = _plain(rng)
        assert orjson.loads(encode(v)) == v


def test_shrink_keeps_the_failing_part_only() -> None:
    tree = {
        "rows": [{"id": "a", "input": Nest(600, 1), "output": "x" * 100, "metadata": {"m": 1}}, {"id": "b"}]
    }

    def fails(t: object) -> bool:
        return b"[" * 300 in encode(t)

    assert shrink(tree, fails, budget=30) == {"rows": [{"input": Nest(300, 1)}]}  # "rows" stays


def test_generators_are_reproducible() -> None:
    def cases(seed: int) -> list[bytes | None]:
        rng = random.Random(seed)
        out = []
        for i in range(50):
            out.append(logs3_case(rng, i, ("project_logs", "P"), "P", "t").case.body())
            out.append(otlp_protobuf_case(rng, i, "project_id:P", "ab").case.body())
            out.append(otlp_json_case(rng, i, "project_id:P", "ab").case.body())
        return out

    assert cases(7) == cases(7)
    assert cases(7) != cases(8)


@pytest.mark.parametrize("gz", [False, True])
def test_case_body_and_summary(gz: bool) -> None:
    c = Case(
        "x", "POST", "/logs3", {"rows": [{"id": "a"}]}, gzip_body=gz, headers={"Authorization": "Bearer s"}
    )
    body = c.body()
    assert body is not None
    assert orjson.loads(gzip.decompress(body) if gz else body) == {"rows": [{"id": "a"}]}
    assert "Bearer" not in c.summary()
    assert describe({"k": "x" * 1000}).startswith("{'k': <str of 1000 chars")
