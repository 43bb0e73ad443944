"""`POST /v1/eval`'s body (Braintrust's `RunEval`, spec §5.1), validated with clear 400s.

Function references arrive in the invoke API's shapes (spec §4.1) and become the job contract's
`FunctionRef`: `{function_id, version?}` · `{project_name, slug, version?}` ·
`{global_function, function_type?}` · `{prompt_session_id, prompt_session_function_id}` ·
`{inline_context: {runtime, version}, code, name?}` · `{inline_prompt, name?}`; a score may also
be wrapped as the dev server sends it, `{"name": …, "function_id": {<reference>}}`.
"""

from __future__ import annotations

from typing import Any

from loopline.common.errors import Invalid
from loopline.common.json_body import first_error, parse_body
from loopline.common.messages.eval_jobs import FunctionRef
from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_BODY = 16 * 1024 * 1024
MAX_TRIALS = 100
MAX_SCORERS = 64


class RunEval(BaseModel):
    """The fields of `RunEval` Loopline acts on (the others are accepted and ignored; see the
    evaluator README for which and why)."""

    model_config = ConfigDict(extra="ignore")

    project_id: str = Field(min_length=1)
    data: dict[str, Any]
    task: dict[str, Any]
    scores: list[Any] = Field(min_length=1, max_length=MAX_SCORERS)
    experiment_name: str | None = Field(default=None, max_length=1024)
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None
    is_public: bool | None = None
    parent: str | dict[str, Any] | None = None
    stream: bool = False
    trial_count: int | None = Field(default=None, ge=1, le=MAX_TRIALS)
    #: cells at once; absent: 10, null: no limit of the job's own (the process's limit holds)
    max_concurrency: int | None = Field(default=10, ge=1, le=10_000)
    #: the whole eval's time limit, in milliseconds (each call's own: `[loopline.evals] call_timeout_s`)
    timeout: float | None = Field(default=None, gt=0)
    base_experiment_name: str | None = None
    base_experiment_id: str | None = None
    #: template variables of a prompt task (`{{parameters.x}}`, `{{x}}`), `parameters=` of code
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    repo_info: dict[str, Any] | None = None
    #: a template path naming messages appended to a prompt task's (extra_messages.py)
    extra_messages: str | None = Field(default=None, max_length=256)
    #: Braintrust's "token to stop the run": accepted, not used (cancel by job id)
    stop_token: str | None = Field(default=None, max_length=1024)


def parse_run_eval(raw: bytes) -> RunEval:
    return parse_body(raw, RunEval, max_bytes=MAX_BODY, too_large_hint="put large data in a dataset")


_INVOKE_ONLY = ("inline_function", "mcp_auth", "endpoint_name")


def function_ref(value: Any, where: str) -> FunctionRef:
    """A function reference of the request → the job's `FunctionRef` (Invalid naming `where`)."""
    if not isinstance(value, dict):
        raise Invalid(
            f"'{where}' must be a function reference object, got {type(value).__name__}", field=where
        )
    d = dict(value)
    if isinstance(d.get("function_id"), dict):  # {"name", "function_id": {<reference>}}
        name = d.get("name")
        d = dict(d["function_id"])
        if name is not None and "name" not in d:
            d["name"] = name
    for k in _INVOKE_ONLY:
        if d.get(k) is not None:
            raise Invalid(
                f"'{where}.{k}' is not supported by /v1/eval: reference a saved function, a global "
                "function, inline code or an inline prompt",
                field=f"{where}.{k}",
            )
        d.pop(k, None)
    if "code" in d or "inline_context" in d:
        d["inline_code"] = d.pop("code", None)
        d["inline_runtime"] = d.pop("inline_context", None)
    try:
        return FunctionRef.model_validate(d)
    except ValidationError as exc:
        sub, message = first_error(exc)
        field = f"{where}.{sub}" if sub else where
        msg = message.replace(f"'{sub}'", f"'{field}'") if sub else f"'{where}': {message}"
        raise Invalid(msg, field=field) from None


def data_version(value: Any, where: str) -> str | None:
    """A dataset version (a transaction id) as the job carries it; None when not given."""
    if value is None or value == "":
        return None
    try:
        v = int(str(value))
    except ValueError:
        raise Invalid(
            f"'{where}' must be a transaction id (a decimal integer), got {value!r}", field=where
        ) from None
    if v < 0:
        raise Invalid(f"'{where}' must be >= 0", field=where)
    return str(v)
