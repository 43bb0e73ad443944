"""The evaluator's state: built once by `service.start`, read by the routes through `deps`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from loopline.evaluator.ai_secrets import AiSecretStore
from loopline.evaluator.functions.bundles import BundleStore
from loopline.evaluator.functions.store import FunctionStore
from loopline.evaluator.online.scoring import OnlineScoring
from loopline.evaluator.org_models import OrgModels
from loopline.evaluator.proxy.engine import ModelGateway
from loopline.evaluator.runtime.runner import FunctionRunner
from loopline.evaluator.runtime.spans import SpanWriter

if TYPE_CHECKING:
    from loopline.evaluator.evals.state import EvalsState


@dataclass(frozen=True)
class State:
    secrets: AiSecretStore  # org AI provider secrets (owner of ai_secrets)
    models: OrgModels  # each org's ModelClient, built from its secrets
    gateway: ModelGateway  # /v1/proxy/* (owner of proxy_cache)
    functions: FunctionStore  # prompts and functions, versioned (owner of functions)
    bundles: BundleStore  # code bundles of `braintrust push` (owner of function_bundles)
    runner: FunctionRunner | None = None  # runs prompts, scorers and code (fn-invoke)
    spans: SpanWriter | None = None  # publishes spans as rows on loopline.rows (fn-invoke)
    online: OnlineScoring | None = None  # /v1/project_score rules and the online scoring engine (online)
    evals: EvalsState | None = None  # server-side evals: /v1/eval, jobs (owner of eval_jobs)
