"""Who may call what: every route of every service → the least role that may call it.

One table (`POLICY`), read by the gateway's auth middleware for every request, in embedded and
distributed mode alike (the gateway checks before it forwards). `tests/test_route_policy.py`
checks it against the app's route list: a route without an entry fails that test, and at run
time a request no entry matches needs an owner.

Roles: viewer reads (including read-only queries sent by POST: fetch, BTQL); member writes data,
runs evals and models, edits datasets, prompts, classifiers and dashboards; admin manages API
keys, AI secrets, rules, the dead-letter queue and members; owner also manages admins and owners
(checked in the member routes: an admin cannot create, promote or remove an admin or owner).
`public` routes need no principal at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from loopline.common.auth import Role, role_rank
from starlette.routing import compile_path

Access = Role | Literal["public"]

POLICY: dict[str, Access] = {
    # gateway: discovery, sign-in, users
    "GET /version": "public",
    "POST /api/login": "public",
    "POST /api/invitation/accept": "public",
    "POST /api/logout": "viewer",
    "GET /api/me": "viewer",
    "POST /api/apikey/login": "viewer",
    "GET /ping": "viewer",
    "GET /v1/user": "viewer",
    "POST /v1/user": "admin",
    "GET /v1/user/{user_id}": "viewer",
    "PATCH /v1/user/{user_id}": "admin",
    "DELETE /v1/user/{user_id}": "admin",
    "POST /v1/invitation": "admin",
    "GET /v1/invitation": "admin",
    # API keys: everyone may hold keys of their own role; admins see and revoke everyone's
    "POST /v1/api_key": "viewer",
    "GET /v1/api_key": "viewer",
    "GET /v1/api_key/{key_id}": "viewer",
    "DELETE /v1/api_key/{key_id}": "viewer",
    # gateway: control plane
    "POST /v1/project": "member",
    "GET /v1/project": "viewer",
    "GET /v1/project/{project_id}": "viewer",
    "PATCH /v1/project/{project_id}": "member",
    "DELETE /v1/project/{project_id}": "admin",
    "POST /v1/experiment": "member",
    "GET /v1/experiment": "viewer",
    "GET /v1/experiment/{experiment_id}": "viewer",
    "PATCH /v1/experiment/{experiment_id}": "member",
    "DELETE /v1/experiment/{experiment_id}": "member",
    "POST /v1/dataset": "member",
    "GET /v1/dataset": "viewer",
    "GET /v1/dataset/{dataset_id}": "viewer",
    "PATCH /v1/dataset/{dataset_id}": "member",
    "DELETE /v1/dataset/{dataset_id}": "member",
    "GET /environment-object/{object_type}/{object_id}/{environment}": "viewer",
    "POST /api/project/register": "member",
    "GET /api/project": "viewer",
    "POST /api/experiment/register": "member",
    "POST /api/experiment/get": "viewer",
    "POST /api/dataset/register": "member",
    "POST /api/base_experiment/get_id": "viewer",
    # ingest
    "POST /logs3": "member",
    "POST /logs3/overflow": "member",
    "POST /v1/{object_type}/{object_id}/insert": "member",
    "POST /v1/dataset/{dataset_id}/restore": "member",
    "POST /attachment": "member",
    "POST /attachment/status": "member",
    "GET /attachment": "viewer",
    "POST /blob/{token}": "public",  # signed URLs authorise themselves
    "PUT /blob/{token}": "public",
    "GET /blob/{token}": "public",
    "GET /api/admin/dlq": "admin",
    "POST /api/admin/dlq/replay": "admin",
    "POST /otel/v1/traces": "member",
    # query
    "POST /v1/{object_type}/{object_id}/fetch": "viewer",
    "GET /v1/{object_type}/{object_id}/fetch": "viewer",
    "GET /v1/experiment/{experiment_id}/summarize": "viewer",
    "GET /experiment-comparison2": "viewer",
    "GET /v1/dataset/{dataset_id}/summarize": "viewer",
    "GET /v1/dataset/{dataset_id}/versions": "viewer",
    "GET /dataset-summary": "viewer",
    "GET /btql/schema": "viewer",
    "POST /btql": "viewer",
    "POST /btql/async": "viewer",
    "GET /btql/async/{job_id}": "viewer",
    "DELETE /btql/async/{job_id}": "viewer",
    "GET /btql/async/{job_id}/result": "viewer",
    "POST /btql/validate": "viewer",
    "GET /dashboards": "viewer",
    "POST /dashboards": "member",
    "GET /dashboards/{dashboard_id}": "viewer",
    "PUT /dashboards/{dashboard_id}": "member",
    "DELETE /dashboards/{dashboard_id}": "member",
    "POST /dashboards/{dashboard_id}/charts": "member",
    "PUT /dashboards/{dashboard_id}/charts/{chart_id}": "member",
    "DELETE /dashboards/{dashboard_id}/charts/{chart_id}": "member",
    "POST /dashboards/{dashboard_id}/data": "viewer",
    "POST /dashboards/{dashboard_id}/charts/{chart_id}/btql": "viewer",
    # evaluator: secrets are admin's; running models is a member's
    "POST /v1/ai_secret": "admin",
    "PUT /v1/ai_secret": "admin",
    "GET /v1/ai_secret": "admin",
    "DELETE /v1/ai_secret": "admin",
    "GET /v1/ai_secret/{ai_secret_id}": "admin",
    "PATCH /v1/ai_secret/{ai_secret_id}": "admin",
    "DELETE /v1/ai_secret/{ai_secret_id}": "admin",
    "POST /v1/proxy/chat/completions": "member",
    "POST /v1/proxy/embeddings": "member",
    "POST /v1/proxy/moderations": "member",
    "POST /v1/proxy/auto": "member",
    "GET /v1/proxy/models": "viewer",
    "DELETE /v1/proxy/{rest:path}": "member",
    "GET /v1/proxy/{rest:path}": "member",
    "PATCH /v1/proxy/{rest:path}": "member",
    "POST /v1/proxy/{rest:path}": "member",
    "PUT /v1/proxy/{rest:path}": "member",
    # evaluator: prompts and functions (viewers read, members define them and push code)
    "POST /v1/prompt": "member",
    "PUT /v1/prompt": "member",
    "GET /v1/prompt": "viewer",
    "GET /v1/prompt/{prompt_id}": "viewer",
    "PATCH /v1/prompt/{prompt_id}": "member",
    "DELETE /v1/prompt/{prompt_id}": "member",
    "POST /v1/function": "member",
    "PUT /v1/function": "member",
    "GET /v1/function": "viewer",
    "GET /v1/function/{function_id}": "viewer",
    "PATCH /v1/function/{function_id}": "member",
    "DELETE /v1/function/{function_id}": "member",
    "GET /v1/function/{function_id}/bundle": "member",  # pushed code may hold what viewers should not read
    "POST /insert-functions": "member",
    "POST /function/code": "member",
    "PUT /function/bundle/{token}": "public",  # the signed, expiring token authorises one upload
    # evaluator: invoking a function runs models and code (a member's)
    "POST /function/invoke": "member",
    "POST /v1/function/{function_id}/invoke": "member",
    # evaluator: project scores and online-scoring rules (rules spend model money: admin's)
    "POST /v1/project_score": "admin",
    "PUT /v1/project_score": "admin",
    "GET /v1/project_score": "viewer",
    "GET /v1/project_score/{project_score_id}": "viewer",
    "PATCH /v1/project_score/{project_score_id}": "admin",
    "DELETE /v1/project_score/{project_score_id}": "admin",
    "GET /v1/project_score/{project_score_id}/status": "viewer",
    "POST /v1/project_score/test": "admin",  # runs the scorers: model money
    "POST /v1/project_score/{project_score_id}/test": "admin",
    "POST /v1/project_score/{project_score_id}/backfill": "admin",  # scores past logs: model money
    "GET /v1/project_score/{project_score_id}/backfill": "viewer",
    "GET /v1/project_score/{project_score_id}/backfill/{backfill_id}": "viewer",
    "POST /v1/project_score/{project_score_id}/backfill/{backfill_id}/cancel": "admin",
    # evaluator: server-side evals (running one is a member's; reading jobs a viewer's)
    "POST /v1/eval": "member",
    "GET /v1/eval": "viewer",
    "GET /v1/eval/{job_id}": "viewer",
    "GET /v1/eval/{job_id}/events": "viewer",
    "POST /v1/eval/{job_id}/cancel": "member",
    # classifier
    "POST /v1/project/{project_id}/classifier": "member",
    "GET /v1/project/{project_id}/classifier": "viewer",
    "GET /v1/project/{project_id}/classifier/{classifier_id}": "viewer",
    "PATCH /v1/project/{project_id}/classifier/{classifier_id}": "member",
    "DELETE /v1/project/{project_id}/classifier/{classifier_id}": "member",
    "POST /v1/project/{project_id}/classifier/{classifier_id}/classify": "member",
    "POST /v1/project/{project_id}/classifier/{classifier_id}/label": "member",
    "POST /v1/project/{project_id}/classifier/{classifier_id}/backfill": "member",
    "GET /v1/project/{project_id}/classifier/{classifier_id}/backfill": "viewer",
    "GET /v1/project/{project_id}/classifier/{classifier_id}/backfill/{job_id}": "viewer",
    "POST /v1/project/{project_id}/classifier/{classifier_id}/backfill/{job_id}/cancel": "member",
    "GET /v1/classifier/status": "viewer",
    # classifier: the improvement loop, discovery, label reads
    "POST /v1/project/{project_id}/classifier/{classifier_id}/dataset": "member",
    "POST /v1/project/{project_id}/classifier/{classifier_id}/retrain": "member",
    "POST /v1/project/{project_id}/classifier/{classifier_id}/evaluate": "member",
    "POST /v1/project/{project_id}/classifier/{classifier_id}/discover": "member",
    "POST /v1/project/{project_id}/classifier/{classifier_id}/accept": "member",
    "GET /v1/project/{project_id}/classifier/{classifier_id}/stats": "viewer",
    # loop agent: conversations run a model (member); its settings are admin's
    "GET /v1/loop/analyses": "viewer",
    "GET /v1/loop/analyze/{name}": "viewer",
    "POST /v1/loop/analyze/{name}": "member",
    "POST /v1/loop/conversations": "member",
    "GET /v1/loop/conversations": "viewer",
    "GET /v1/loop/conversations/{conversation_id}": "viewer",
    "PATCH /v1/loop/conversations/{conversation_id}": "member",
    "DELETE /v1/loop/conversations/{conversation_id}": "member",
    "POST /v1/loop/conversations/{conversation_id}/messages": "member",
    "POST /v1/loop/conversations/{conversation_id}/confirm": "member",
    "POST /v1/loop/conversations/{conversation_id}/continue": "member",
    "GET /v1/loop/audit": "admin",
    "GET /v1/loop/settings": "viewer",
    "GET /v1/loop/models": "viewer",
    "PUT /v1/loop/settings": "admin",
    # health and metrics (served by every process)
    "GET /healthz": "public",
    "GET /readyz": "public",
    "GET /metrics": "public",
}

#: what a request no entry matches needs
UNLISTED: Role = "owner"


@dataclass(frozen=True)
class _Entry:
    method: str
    template: str
    regex: re.Pattern[str]
    access: Access
    specificity: tuple[int, int]  # fewer parameters, then more literal characters: first


def _compile(policy: dict[str, Access]) -> list[_Entry]:
    entries = []
    for key, access in policy.items():
        method, template = key.split(" ", 1)
        regex, _fmt, convertors = compile_path(template)
        literal = len(re.sub(r"{[^}]*}", "", template))
        entries.append(_Entry(method, template, regex, access, (len(convertors), -literal)))
    return sorted(entries, key=lambda e: e.specificity)


_ENTRIES = _compile(POLICY)


def access_for(method: str, path: str) -> Access:
    """The access `method path` needs: its most specific matching entry's, else `UNLISTED`."""
    m = "GET" if method == "HEAD" else method
    for e in _ENTRIES:
        if e.method == m and e.regex.match(path):
            return e.access
    return UNLISTED


def allows(role: str, access: Access) -> bool:
    return access == "public" or role_rank(role) >= role_rank(access)
