"""Pushed bundles: which files of a `braintrust push` zip are the user's own modules, and the
registered function they run (in the real sandbox)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator

import pytest
from loopline.common.auth import Principal
from loopline.evaluator.runtime.code import CodeRunner, CodeUnavailable, bundle_modules
from loopline.evaluator.runtime.types import InlineFunction
from loopline.evaluator.sandbox.runner import Sandbox
from loopline.evaluator.sandbox.settings import SandboxSettings

USER = """
import braintrust
from helpers.maths import twice
from pydantic import BaseModel

project = braintrust.projects.create(name="p")


class Num(BaseModel):
    x: int


class Pair(BaseModel):
    output: str
    expected: str


def double(x: int) -> int:
    return twice(x)


def score(output, expected):
    return {"name": "close", "score": 1.0 if output == expected else 0.5}


project.tools.create(handler=double, name="Double", slug="double", parameters=Num)
project.scorers.create(handler=score, name="Close", slug="close", parameters=Pair)
"""


def bundle(extra: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("register.py", "import fns as _\n")
        zf.writestr("fns.py", USER)
        zf.writestr("helpers/__init__.py", "")
        zf.writestr("helpers/maths.py", "def twice(x):\n    return 2 * x\n")
        zf.writestr("somedep/__init__.py", "raise ImportError('a dependency, not the user's')\n")
        zf.writestr(
            "somedep-1.0.dist-info/RECORD",
            "somedep/__init__.py,sha256=x,10\nsomedep-1.0.dist-info/RECORD,,\n",
        )
        for name, text in (extra or {}).items():
            zf.writestr(name, text)
    return buf.getvalue()


class Blobs:
    """A bundle source holding one zip (what fn-store's BundleStore.get returns)."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.reads = 0

    async def get(self, org_id: str, bundle_id: str) -> bytes:
        self.reads += 1
        return self.blob


def test_user_modules_exclude_installed_distributions() -> None:
    mods = bundle_modules(bundle())
    assert set(mods) == {"register", "fns", "helpers", "helpers.maths"}
    assert mods["helpers.maths"][0] == "helpers/maths.py"
    with pytest.raises(CodeUnavailable, match=r"register\.py"):
        bundle_modules(_zip({"fns.py": "x = 1"}))
    with pytest.raises(CodeUnavailable, match="not a zip"):
        bundle_modules(b"PK-not-really")


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in files.items():
            zf.writestr(k, v)
    return buf.getvalue()


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    sb = Sandbox(SandboxSettings(wall_seconds=20, preload=["json"]))
    yield sb
    await sb.close()


def fn(index: int, kind: str = "tool") -> InlineFunction:
    data = {
        "type": "bundle",
        "bundle_id": "b1",
        "runtime_context": {"runtime": "python", "version": "3.11"},
        "location": {"type": "function", "index": index},
    }
    return InlineFunction(name=kind, function_data={"type": "code", "data": data}, function_type=kind)


async def test_registered_functions_run_in_the_sandbox(sandbox: Sandbox) -> None:
    blobs = Blobs(bundle())
    code = CodeRunner(sandbox, blobs)
    who = Principal(org_id="o1")
    out = await code.bind(who, fn(0)).function({"x": 21})
    assert (out.output, out.error) == (42, None)
    scored = await code.bind(who, fn(1, "scorer")).scorer(
        {"input": 1, "output": "a", "expected": "b", "metadata": {}}, "Close"
    )
    assert scored.error is None and [(s.name, s.score) for s in scored.scores] == [("close", 0.5)]
    assert blobs.reads == 1  # the bundle's modules are read once
    missing = await code.bind(who, fn(5)).function({})
    assert missing.status == 422 and "registers 2 functions" in str(missing.error)
    # an error in the user's module shows its own frame
    broken = CodeRunner(sandbox, Blobs(bundle({"helpers/maths.py": "def twice(x):\n    return x / 0\n"})))
    out = await broken.bind(who, fn(0)).function({"x": 1})
    assert out.status == 422 and "ZeroDivisionError" in str(out.error)
    assert "helpers/maths.py" in str(out.error) and "return x / 0" in str(out.error)
    bad = fn(0)
    bad.function_data["data"]["location"] = {"type": "sandbox"}
    out = await code.bind(who, bad).function({})
    assert out.status == 400 and "not supported" in str(out.error)


def inline(code: str) -> InlineFunction:
    data = {"type": "inline", "code": code, "runtime_context": {"runtime": "python", "version": "3.11"}}
    return InlineFunction(name="task", function_data={"type": "code", "data": data})


async def test_an_evals_parameters_reach_handlers_that_take_them(sandbox: Sandbox) -> None:
    code = CodeRunner(sandbox, Blobs(bundle()))
    who = Principal(org_id="o1")
    params = {"k": 3}
    for source, value, expected in (
        ("def handler(x, parameters):\n    return x * parameters['k']\n", {"x": 2}, 6),
        ("async def handler(x, *, parameters):\n    return x + parameters['k']\n", {"x": 2}, 5),
        ("def handler(**kw):\n    return sorted(kw)\n", {"x": 2}, ["parameters", "x"]),
        ("def handler(x):\n    return x\n", {"x": 2, "y": 1}, 2),  # takes none: bound as before
        ("def handler(input):\n    return input\n", {"q": 1}, {"q": 1}),  # the whole object
        ("def handler(input, parameters):\n    return [input, parameters]\n", "q", ["q", params]),
        ("def handler(input):\n    return input\n", 5, 5),
    ):
        out = await code.bind(who, inline(source)).function(value, params)
        assert (out.output, out.error) == (expected, None), source
    # a pushed bundle's function declares its arguments: parameters are dropped for it
    out = await code.bind(who, fn(0)).function({"x": 21}, params)
    assert (out.output, out.error) == (42, None)
    # errors name the user's code, never the wrapper
    out = await code.bind(who, inline("def handler(parameters):\n    return 1 / 0\n")).function({}, params)
    assert "ZeroDivisionError" in str(out.error) and "return 1 / 0" in str(out.error)
    assert "loopline" not in str(out.error)
    out = await code.bind(who, inline("def main(x):\n    return x\n")).function({"x": 1}, params)
    assert out.status == 422 and "defines no function 'handler'" in str(out.error)
