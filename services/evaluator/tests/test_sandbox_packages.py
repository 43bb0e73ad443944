"""Pushed bundles' own requirements: which distributions of a bundle the evaluator lacks, their
package environment installed from PyPI once (shared by concurrent builders, a clear error naming a
requirement that cannot be installed) and imported by the bundle's function in the real sandbox,
read-only."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import pytest
from loopline.common.auth import Principal
from loopline.evaluator.runtime.code import CodeRunner, bundle_requirements
from loopline.evaluator.runtime.types import InlineFunction
from loopline.evaluator.sandbox.packages import READY, PackageEnvs, PackageInstallError, env_name
from loopline.evaluator.sandbox.runner import Sandbox
from loopline.evaluator.sandbox.settings import SandboxSettings

ROOT = Path(__file__).resolve().parents[3]
UV = ROOT / ".cache/uv-tool/bin/uv"
PACKAGE = "inflection==0.5.1"  # small, pure Python, not in the evaluator's environment

USER = """
import braintrust
import inflection
from pydantic import BaseModel

project = braintrust.projects.create(name="p")


class Word(BaseModel):
    word: str


def plural(word: str) -> str:
    return inflection.pluralize(word)


def write(word: str) -> str:
    import os

    path = os.path.dirname(inflection.__file__) + "/owned.txt"
    with open(path, "w") as f:
        f.write(word)
    return "wrote"


project.tools.create(handler=plural, name="Plural", slug="plural", parameters=Word)
project.tools.create(handler=write, name="Write", slug="write", parameters=Word)
"""


def dist(name: str, version: str) -> dict[str, str]:
    info = f"{name}-{version}.dist-info"
    return {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nName: not-a-header\n",
        f"{info}/RECORD": f"{name.lower()}.py,,\n{info}/METADATA,,\n",
    }


def bundle(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def pushed() -> bytes:
    return bundle(
        {
            "register.py": "import fns as _\n",
            "fns.py": USER,
            "inflection.py": "raise ImportError('the copy in the zip is not used')\n",
            **dist("inflection", "0.5.1"),
            **dist("pydantic", "2.0.0"),  # the evaluator has it: used as the evaluator has it
        }
    )


def test_requirements_are_the_distributions_the_evaluator_lacks() -> None:
    blob = bundle({**dist("Some_Pkg", "1.2"), **dist("pydantic", "2.0.0"), "register.py": ""})
    assert bundle_requirements(blob) == ("some-pkg==1.2",)
    assert bundle_requirements(blob, frozenset({"some-pkg"})) == ("pydantic==2.0.0",)
    assert bundle_requirements(bundle({"register.py": ""})) == ()
    assert env_name(["b==1", "a==2"]) == env_name(["a==2", "b==1", "a==2"]) != env_name(["a==2"])


@pytest.fixture
def envs(tmp_path: Path) -> PackageEnvs:
    if not UV.exists():
        pytest.skip("no uv in .cache/uv-tool (./dev installs it)")
    return PackageEnvs(tmp_path / "packages", installer=str(UV), install_seconds=180)


async def test_an_environment_is_built_once_by_concurrent_builders(envs: PackageEnvs) -> None:
    # a second PackageEnvs on the same directory stands for another evaluator process
    other = PackageEnvs(envs.root, installer=envs.installer, install_seconds=180)
    names = await asyncio.gather(envs.ensure([PACKAGE]), envs.ensure([PACKAGE]), other.ensure([PACKAGE]))
    assert len(set(names)) == 1
    path = envs.path(names[0])
    assert (path / READY).read_text().split() == [PACKAGE]
    assert (path / "inflection.py").exists()
    assert sorted(p.name for p in envs.root.iterdir() if p.name.startswith(".build")) == []
    with pytest.raises(PackageInstallError, match=r"requirement 'inflection==999\.0\.0'"):
        await envs.ensure(["inflection==999.0.0", "six==1.16.0"])
    # remembered for a while: no installer run per row
    with pytest.raises(PackageInstallError, match="inflection==999"):
        await envs.ensure(["six==1.16.0", "inflection==999.0.0"])
    missing = PackageEnvs(envs.root / "x", installer=str(envs.root / "no-uv"))
    with pytest.raises(
        PackageInstallError, match=r"cannot install the bundle's requirements \(six==1\.16\.0\)"
    ):
        await missing.ensure(["six==1.16.0"])


class Blobs:
    def __init__(self, blob: bytes) -> None:
        self.blob = blob

    async def get(self, org_id: str, bundle_id: str) -> bytes:
        return self.blob


def fn(index: int) -> InlineFunction:
    data = {
        "type": "bundle",
        "bundle_id": "b1",
        "runtime_context": {"runtime": "python", "version": "3.11"},
        "location": {"type": "function", "index": index},
    }
    return InlineFunction(name="tool", function_data={"type": "code", "data": data}, function_type="tool")


async def test_a_bundle_runs_with_its_requirements_read_only(envs: PackageEnvs) -> None:
    # the packages directory is under /tmp (pytest's tmp_path), which the sandbox's root hides:
    # it is bound read-only at its own place in the new root
    sandbox = Sandbox(SandboxSettings(wall_seconds=20, preload=["json"]), packages=envs)
    try:
        code = CodeRunner(sandbox, Blobs(pushed()))
        who = Principal(org_id="o1")
        out = await code.bind(who, fn(0)).function({"word": "octopus"})
        assert (out.output, out.error) == ("octopi", None)
        wrote = await code.bind(who, fn(1)).function({"word": "x"})
        assert wrote.status == 422 and ("Read-only" in str(wrote.error) or "Permission" in str(wrote.error))
        assert not list(envs.root.glob("*/owned.txt"))
        # a requirement that cannot be installed is a clear error of the call, naming it
        bad = CodeRunner(sandbox, Blobs(bundle({"register.py": "", **dist("inflection", "999.0")})))
        out = await bad.bind(who, fn(0)).function({"word": "x"})
        assert out.status == 422 and "inflection==999.0" in str(out.error)
    finally:
        await sandbox.close()
