"""The evaluator service definition.

`start` builds the `State` (state.py): the org AI secrets (`/v1/ai_secret`, sealed with the key
of `EvaluatorSettings.ai_secrets_key` or `<data_dir>/ai_secrets.key`), each org's model client
built from them, and the model gateway (`/v1/proxy/*`). With no secret configured everything
starts; a gateway call then answers 400 saying how to add a provider.
"""

from __future__ import annotations

from fastapi import APIRouter
from loopline.common.logging import get_logger
from loopline.common.service import ServiceContext, ServiceDef, Started
from loopline.evaluator import tables
from loopline.evaluator.ai_secrets import AiSecretStore
from loopline.evaluator.errors import ERRORS
from loopline.evaluator.evals import tables as eval_tables
from loopline.evaluator.evals.routes import build_eval_router
from loopline.evaluator.evals.runner_functions import RunnerFunctions
from loopline.evaluator.evals.settings import EvalSettings
from loopline.evaluator.evals.start import start_evals
from loopline.evaluator.functions.bundles import BundleSigner, BundleStore
from loopline.evaluator.functions.routes import build_function_router
from loopline.evaluator.functions.settings import FunctionSettings
from loopline.evaluator.functions.store import FunctionStore
from loopline.evaluator.online.routes import build_online_router
from loopline.evaluator.online.scoring import start_online
from loopline.evaluator.online.settings import OnlineScoringSettings
from loopline.evaluator.online.tables import MIGRATIONS as ONLINE_MIGRATIONS
from loopline.evaluator.org_models import OrgModels
from loopline.evaluator.proxy.cache import ProxyCache
from loopline.evaluator.proxy.engine import ModelGateway
from loopline.evaluator.proxy.routes import build_proxy_router
from loopline.evaluator.runtime.build import build_runtime, runtime_workers
from loopline.evaluator.runtime.routes import build_invoke_router
from loopline.evaluator.runtime.settings import RuntimeSettings
from loopline.evaluator.sandbox.settings import SandboxSettings
from loopline.evaluator.secret_box import KEY_FILE, SecretBox
from loopline.evaluator.secret_routes import build_secret_router
from loopline.evaluator.settings import EvaluatorSettings
from loopline.evaluator.state import State

log = get_logger(__name__)


class _CloseClients:
    """Closes the org model clients (their HTTP connections) at shutdown."""

    def __init__(self, models: OrgModels) -> None:
        self.models = models

    async def stop(self) -> None:
        await self.models.aclose()


def _router(ctx: ServiceContext) -> APIRouter:
    router = build_secret_router()
    router.include_router(build_proxy_router())
    router.include_router(build_function_router())
    router.include_router(build_invoke_router())
    router.include_router(build_online_router(ctx))
    router.include_router(build_eval_router())
    return router


async def _start(ctx: ServiceContext) -> Started:
    store = ctx.require_store()
    cfg = ctx.settings.section(EvaluatorSettings)
    if not cfg.ai_secrets_key and not ctx.embedded:
        log.warning(
            "LOOPLINE_AI_SECRETS_KEY is not set: AI secrets are sealed with the key file in this "
            "process's data dir; every evaluator sharing the store must use one key (set it)",
            key_file=str(ctx.settings.data_dir / KEY_FILE),
        )
    secrets = AiSecretStore(store, SecretBox.from_config(cfg.ai_secrets_key, ctx.settings.data_dir))
    models = OrgModels(secrets)
    gateway = ModelGateway(models, ProxyCache(store) if cfg.proxy_cache else None)
    functions = FunctionStore(store, ctx.require_control_plane(), ctx.xact)
    fcfg = ctx.settings.section(FunctionSettings)
    bundles = BundleStore(
        store,
        BundleSigner(secrets.box.derive("function-bundle-urls")),
        ctx.settings.data_dir / "function-bundles",
        max_bytes=fcfg.bundle_max_mb * 1024 * 1024,
        url_seconds=fcfg.bundle_url_seconds,
    )
    runtime = build_runtime(ctx, models, functions, bundles)
    online, online_workers = await start_online(ctx, runtime.runner)
    evals, eval_workers = await start_evals(ctx, RunnerFunctions(runtime.runner))
    state = State(
        secrets=secrets,
        models=models,
        gateway=gateway,
        functions=functions,
        bundles=bundles,
        runner=runtime.runner,
        spans=runtime.spans,
        online=online,
        evals=evals,
    )
    return Started(
        state, workers=[_CloseClients(models), *runtime_workers(runtime), *online_workers, *eval_workers]
    )


SERVICE = ServiceDef(
    name="evaluator",
    router=_router,
    start=_start,
    needs_store=True,
    migrations=(*tables.MIGRATIONS, *ONLINE_MIGRATIONS, *eval_tables.MIGRATIONS),
    settings=(
        EvaluatorSettings,
        SandboxSettings,
        FunctionSettings,
        RuntimeSettings,
        OnlineScoringSettings,
        EvalSettings,
    ),
    routes=(
        r"^/v1/ai_secret(/[^/]+)?$",
        r"^/v1/proxy/",
        r"^/v1/(prompt|function)(/[^/]+)?$",
        r"^/v1/function/[^/]+/bundle$",
        r"^/insert-functions$",
        r"^/function/(code|bundle/[^/]+)$",
        r"^/function/invoke$",
        r"^/v1/function/[^/]+/invoke$",
        r"^/v1/project_score(/[^/]+)?(/status|/test|/backfill(/[^/]+(/cancel)?)?)?$",
        r"^/v1/eval(/[^/]+(/events|/cancel)?)?$",
    ),
    slow_routes=(r"^/v1/eval$", r"^/v1/project_score(/[^/]+)?/test$"),
    errors=ERRORS,
)
