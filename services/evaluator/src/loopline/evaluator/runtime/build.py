"""The runtime's part of the evaluator's start-up: the sandbox (a worker of the service, its
supervisor started on the first code call), the span writer, and the `FunctionRunner`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loopline.common.service import ServiceContext, Worker
from loopline.evaluator.org_models import OrgModels
from loopline.evaluator.runtime.code import BundleSource, CodeRunner
from loopline.evaluator.runtime.runner import FunctionRunner
from loopline.evaluator.runtime.settings import RuntimeSettings
from loopline.evaluator.runtime.spans import SpanWriter
from loopline.evaluator.runtime.types import FunctionResolver
from loopline.evaluator.sandbox.packages import PackageEnvs
from loopline.evaluator.sandbox.runner import Sandbox
from loopline.evaluator.sandbox.settings import SandboxSettings


@dataclass(frozen=True)
class Runtime:
    runner: FunctionRunner
    spans: SpanWriter
    sandbox: Sandbox


def build_runtime(
    ctx: ServiceContext, models: OrgModels, functions: FunctionResolver, bundles: BundleSource
) -> Runtime:
    cfg = ctx.settings.section(RuntimeSettings)
    box = ctx.settings.section(SandboxSettings)
    packages = PackageEnvs(
        Path(box.packages_dir) if box.packages_dir else ctx.settings.data_dir / "sandbox-packages",
        installer=box.installer,
        install_seconds=box.install_seconds,
        index_url=box.package_index_url,
    )
    sandbox = Sandbox(box, packages=packages)
    spans = SpanWriter(ctx.bus, ctx.xact)
    runner = FunctionRunner(
        models,
        functions=functions,
        code=CodeRunner(sandbox, bundles),
        spans=spans,
        control_plane=ctx.control_plane,
        settings=cfg,
    )
    return Runtime(runner, spans, sandbox)


def runtime_workers(runtime: Runtime) -> list[Worker]:
    """What the service stops at shutdown: the sandbox's supervisor."""
    return [runtime.sandbox]
