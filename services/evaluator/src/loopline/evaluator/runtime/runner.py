"""`FunctionRunner`: runs any function kind — LLM prompts, scorers, code — for invoke, eval jobs
and online scoring.

    runner = FunctionRunner(models, functions=store, sandbox=sandbox, spans=writer, control_plane=cp)
    result = await runner.run(principal, FunctionRef(project_name="p", slug="chat"), {"q": "hi"})
    scores = await runner.score(principal, FunctionRef(global_function="Levenshtein"),
                                ScorerArgs(output="abc", expected="abd"))

* `run` returns `RunResult(output, error, usage, error_status)`: a bad reference (unknown
  function, another org's, an impossible selector) raises `NotFound` / `Invalid`; a failure while
  running (template variable missing in strict mode, provider error, code error, unreadable
  answer, timeout) is `RunResult.error` with the status an invoke answers.
* `score` returns `list[Score]` and never raises for the scorer's own failure: `Score.error`.
* With a `parent` (a `SpanParent` or an already resolved `SpanTarget`) the call is logged as a
  span under it (type `function`, or `score` for scorers) with one `llm` child per model call,
  input, output, error, `metadata.function_id/version/slug`, `metrics.start/end` and tokens/cost.

Kinds: `function_data.type` `prompt` (prompt_data; with `parser.type = llm_classifier` it is an
LLM judge with choice scores), `global` (autoevals by name, see `scorers`), `code` (inline code or
a pushed bundle, in the sandbox).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from loopline.common.auth import Principal
from loopline.common.control_plane import ControlPlane
from loopline.common.errors import Invalid, NotFound, Problem, Unavailable
from loopline.common.logging import get_logger
from loopline.common.messages.eval_jobs import FunctionRef
from loopline.evaluator.org_models import OrgModels
from loopline.evaluator.runtime import llm_spans
from loopline.evaluator.runtime import scorers as builtin
from loopline.evaluator.runtime.code import CodeRunner, CodeUnavailable
from loopline.evaluator.runtime.mustache import TemplateError
from loopline.evaluator.runtime.parents import SpanParent
from loopline.evaluator.runtime.prompts import (
    Accounting,
    FunctionTool,
    OutputError,
    PromptError,
    build_request,
    run_prompt,
    template_variables,
)
from loopline.evaluator.runtime.settings import RuntimeSettings
from loopline.evaluator.runtime.spans import Span, SpanTarget, SpanWriter, resolve_parent
from loopline.evaluator.runtime.types import (
    MODES,
    FunctionDef,
    FunctionResolver,
    InlineFunction,
    InvokeEvent,
    Mode,
    OnEvent,
    RunResult,
    Score,
    ScorerArgs,
    xact_of,
)
from loopline.evaluator.sandbox.results import InvalidScore, normalize_scores
from loopline.providers import ModelClient, ProviderError

log = get_logger(__name__)

SCORER_TYPES = frozenset({"scorer", "classifier"})


class RunFailed(Exception):
    """A run that failed while executing: its message and the status an invoke answers."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class _Call:
    """What one execution needs besides the function."""

    principal: Principal
    mode: Mode
    strict: bool
    on_event: OnEvent | None
    acct: Accounting
    messages: list[Any] | None
    timeout_s: float | None
    #: an eval's parameters: template variables of a prompt, the `parameters` argument of code
    parameters: dict[str, Any] | None = None


@lru_cache(maxsize=1024)
def _global_function(name: str, ftype: str) -> InlineFunction:
    if ftype in SCORER_TYPES and builtin.kind_of(name) is None:
        raise NotFound(
            f"global_function {name!r} is not a known scorer; known: " + ", ".join(builtin.known_names()),
            field="global_function",
        )
    return InlineFunction(
        name=name, function_data={"type": "global", "name": name, "function_type": ftype}, function_type=ftype
    )


def is_scorer(fn: FunctionDef) -> bool:
    if fn.function_type in SCORER_TYPES:
        return True
    parser = (fn.prompt_data or {}).get("parser")
    if isinstance(parser, dict) and parser.get("type") == "llm_classifier":
        return True
    data = fn.function_data or {}
    return data.get("type") == "global" and (data.get("function_type") or "scorer") in SCORER_TYPES


def display_name(fn: FunctionDef) -> str:
    return fn.name or fn.slug or str((fn.function_data or {}).get("name") or "function")


def _metadata(fn: FunctionDef) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if fn.id:
        out["function_id"] = fn.id
    if fn.slug:
        out["slug"] = fn.slug
    version = xact_of(fn)
    if version:
        out["version"] = version
    data = fn.function_data or {}
    if data.get("type") == "global":
        out["global_function"] = data.get("name")
    return out


class FunctionRunner:
    def __init__(
        self,
        models: OrgModels,
        *,
        functions: FunctionResolver | None = None,
        code: CodeRunner | None = None,
        spans: SpanWriter | None = None,
        control_plane: ControlPlane | None = None,
        settings: RuntimeSettings | None = None,
    ) -> None:
        self.models = models
        self.functions = functions
        self.code = code
        self.spans = spans
        self.control_plane = control_plane
        self.settings = settings or RuntimeSettings()

    # -- resolution ---------------------------------------------------------------------------------

    async def resolve(self, principal: Principal, fn: FunctionRef | FunctionDef) -> FunctionDef:
        """The function a reference names (NotFound / Invalid when it names none)."""
        if not isinstance(fn, FunctionRef):
            return fn
        if fn.global_function is not None:
            return _global_function(fn.global_function, fn.function_type or "scorer")
        if fn.inline_prompt is not None:
            return InlineFunction(
                name=fn.name or "inline prompt",
                function_data={"type": "prompt"},
                prompt_data=fn.inline_prompt,
                function_type=fn.function_type,
            )
        if fn.inline_code is not None:
            return InlineFunction(
                name=fn.name or "inline code",
                function_data={
                    "type": "code",
                    "data": {
                        "type": "inline",
                        "code": fn.inline_code,
                        "runtime_context": fn.inline_runtime or {},
                    },
                },
                function_type=fn.function_type,
            )
        if fn.prompt_session_id is not None:
            raise Invalid(
                "prompt sessions (playgrounds) are not supported by Loopline", field="prompt_session_id"
            )
        if self.functions is None:
            raise Unavailable("the function store is not available in this process", retry_after=5)
        found: FunctionDef = await self.functions.resolve(principal, fn)
        return found

    async def target(self, principal: Principal, parent: SpanParent | SpanTarget | None) -> SpanTarget | None:
        if parent is None or self.spans is None:
            return None
        if isinstance(parent, SpanTarget):
            return parent
        if self.control_plane is None:
            raise Unavailable("cannot log under a parent: no control plane in this process", retry_after=5)
        return await resolve_parent(self.control_plane, principal, parent)

    def runs_inline(self, fn: FunctionDef) -> bool:
        """True when running or scoring `fn` is synchronous in-process work (a heuristic autoevals
        scorer: microseconds, no I/O): its coroutine never yields to the loop, so a timeout could
        not interrupt it and running many one after the other needs no task each (eval jobs)."""
        data = fn.function_data or {}
        if data.get("type") != "global":
            return False
        found = builtin.kind_of(str(data.get("name") or ""))
        return found is not None and found[0] == builtin.LLM_FREE

    async def client(self, org_id: str, model: str = "") -> ModelClient:
        """The org's model client (ProviderError naming why when it has no provider for `model`)."""
        return await self.models.routed(org_id, model)

    # -- run ------------------------------------------------------------------------------------------

    async def run(
        self,
        principal: Principal,
        fn: FunctionRef | FunctionDef,
        input: Any,
        *,
        expected: Any = None,
        metadata: dict[str, Any] | None = None,
        mode: str = "auto",
        strict: bool = False,
        parent: SpanParent | SpanTarget | None = None,
        on_event: OnEvent | None = None,
        timeout_s: float | None = None,
        messages: list[Any] | None = None,
        span_key: tuple[object, ...] | None = None,
        tags: list[str] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> RunResult:
        if mode not in MODES:
            raise Invalid(f"mode must be one of {list(MODES)}, got {mode!r}", field="mode")
        func = await self.resolve(principal, fn)
        target = await self.target(principal, parent)
        scorer = is_scorer(func)
        span = self._span(
            target, func, "score" if scorer else "function", input, metadata, expected, span_key
        )
        call = _Call(principal, mode, strict, on_event, Accounting(), messages, timeout_s, parameters)  # type: ignore[arg-type]
        if on_event is not None:
            await on_event(InvokeEvent("start"))
        await self._prepare(principal, func)
        # inline work never yields, so no timer is armed for it (eval jobs' hot path)
        limit = None if scorer and self.runs_inline(func) else timeout_s or self.settings.invoke_timeout_s
        try:
            async with asyncio.timeout(limit):
                if scorer:
                    args = ScorerArgs.from_invoke_input(input)
                    if expected is not None and args.expected is None:
                        args = ScorerArgs(
                            args.input, args.output, expected, args.metadata, args.trace, args.extra
                        )
                    scores = await self._score(func, args, call)
                    errors = [s.error for s in scores if s.error]
                    if errors and len(errors) == len(scores):
                        failed = call.acct.failures
                        raise RunFailed("; ".join(errors), failed[0] if failed else 422)
                    output: Any = (
                        scores[0].as_output() if len(scores) == 1 else [s.as_output() for s in scores]
                    )
                    if on_event is not None:
                        await on_event(InvokeEvent("json_delta", json.dumps(output)))
                else:
                    output = await self._execute(func, input, expected, metadata, call)
            result = RunResult(output, usage=call.acct.usage())
        except TimeoutError:
            limit = timeout_s or self.settings.invoke_timeout_s
            result = RunResult(
                None, f"{display_name(func)} timed out after {limit:g} s", call.acct.usage(), 504
            )
        except RunFailed as exc:
            result = RunResult(None, str(exc), call.acct.usage(), exc.status)
        except (TemplateError, PromptError) as exc:
            result = RunResult(None, f"{display_name(func)}: {exc}", call.acct.usage(), 400)
        except OutputError as exc:
            result = RunResult(None, f"{display_name(func)}: {exc}", call.acct.usage(), 422)
        except ProviderError as exc:
            result = RunResult(None, str(exc), call.acct.usage(), exc.http_status())
        except Problem as exc:  # e.g. a tool function that does not exist
            result = RunResult(None, exc.message, call.acct.usage(), 400 if isinstance(exc, Invalid) else 404)
        result = replace(result, calls=tuple(call.acct.calls))
        if on_event is not None:
            if result.error is not None:
                await on_event(InvokeEvent("error", result.error))
            await on_event(InvokeEvent("done"))
        if span is not None:
            await self._log(span, call.acct, output=result.output, error=result.error)
        return result

    def _span(
        self,
        target: SpanTarget | None,
        fn: FunctionDef,
        kind: str,
        input: Any,
        metadata: dict[str, Any] | None,
        expected: Any,
        key: tuple[object, ...] | None,
    ) -> Span | None:
        if target is None or self.spans is None:
            return None
        meta = {**(metadata or {}), **_metadata(fn)}
        logged_input = input
        if isinstance(input, dict) and "trace" in input:  # the SDK strips trace_ref from what it logs
            logged_input = {k: v for k, v in input.items() if k != "trace"}
        return self.spans.start(
            target, display_name(fn), kind, key=key, input=logged_input, metadata=meta, expected=expected
        )

    async def _log(self, span: Span, acct: Accounting, *, output: Any, error: str | None) -> None:
        assert self.spans is not None
        spans = [span]
        for i, c in enumerate(acct.calls):
            child = span.child(
                llm_spans.NAME,
                llm_spans.TYPE,
                key=(span.id, "llm", i),
                start=c.start,
                input=c.input,
                metadata=llm_spans.llm_metadata(c),
            )
            child.finish(
                output=c.output,
                error=c.error,
                metrics=llm_spans.llm_metrics(c),
                end=llm_spans.llm_end(c, time.time()),
            )
            spans.append(child)
        usage = acct.usage()
        span.finish(output=output, error=error, metrics={k: v for k, v in usage.items()})
        try:
            await self.spans.write(spans)
        except Exception:  # the answer is returned even if its span could not be published
            log.exception("could not publish the invocation's spans", span_id=span.span_id)

    async def _execute(
        self, fn: FunctionDef, input: Any, expected: Any, metadata: dict[str, Any] | None, call: _Call
    ) -> Any:
        data = fn.function_data or {}
        kind = data.get("type")
        if kind == "prompt" or (kind is None and fn.prompt_data):
            if not fn.prompt_data:
                raise PromptError("the function has no prompt_data")
            model = str((fn.prompt_data.get("options") or {}).get("model") or "")
            client = await self.client(call.principal.org_id, model)
            tools = await self._function_tools(fn, call)
            return await run_prompt(
                client,
                fn.prompt_data,
                template_variables(input, metadata, expected, call.parameters),
                mode=call.mode,
                strict=call.strict,
                extra_messages=call.messages,
                on_event=call.on_event,
                timeout_s=call.timeout_s,
                accounting=call.acct,
                function_tools=tools,
            )
        if kind == "code":
            out = await self._code(call.principal, fn).function(input, call.parameters)
            if call.on_event is not None:
                if out.logs:
                    await call.on_event(InvokeEvent("console", {"stream": "stdout", "message": out.logs}))
                if out.error is None:
                    value = out.output
                    if isinstance(value, str):
                        await call.on_event(InvokeEvent("text_delta", value))
                    else:
                        await call.on_event(InvokeEvent("json_delta", json.dumps(value)))
            if out.error is not None:
                raise RunFailed(out.error, out.status)
            return out.output
        if kind == "global":
            raise RunFailed(f"global function {data.get('name')!r} can only run as a scorer", 400)
        raise RunFailed(f"functions of type {kind!r} cannot be run by Loopline yet", 400)

    async def _prepare(self, principal: Principal, fn: FunctionDef) -> None:
        """What a function needs before its time limit starts: a pushed bundle's packages."""
        if self.code is not None and (fn.function_data or {}).get("type") == "code":
            await self.code.bind(principal, fn).prepare()

    def _code(self, principal: Principal, fn: FunctionDef) -> Any:
        if self.code is None:
            raise RunFailed("code functions cannot run here: the sandbox is not started in this process", 503)
        try:
            return self.code.bind(principal, fn)
        except CodeUnavailable as exc:
            raise RunFailed(str(exc), exc.status) from exc

    async def _function_tools(self, fn: FunctionDef, call: _Call) -> list[FunctionTool]:
        refs = (fn.prompt_data or {}).get("tool_functions") or []
        if not isinstance(refs, list):
            raise PromptError("prompt_data.tool_functions must be an array")
        tools = []
        for i, raw in enumerate(refs):
            ref = await self._tool_ref(call.principal, raw, i)
            tool_fn = await self.resolve(call.principal, ref)
            name = tool_fn.slug or display_name(tool_fn)
            schema = getattr(tool_fn, "function_schema", None) or {}
            params = schema.get("parameters") if isinstance(schema, dict) else None
            definition = {
                "type": "function",
                "function": {
                    "name": name,
                    "description": getattr(tool_fn, "description", None) or display_name(tool_fn),
                    "parameters": params or {"type": "object", "properties": {}},
                },
            }

            async def run_tool(args: Any, tool_fn: FunctionDef = tool_fn) -> Any:
                nested = _Call(call.principal, "auto", call.strict, None, call.acct, None, call.timeout_s)
                return await self._execute(tool_fn, args, None, None, nested)

            tools.append(FunctionTool(definition, run_tool))
        return tools

    async def _tool_ref(self, principal: Principal, raw: Any, i: int) -> FunctionRef:
        where = f"prompt_data.tool_functions[{i}]"
        if not isinstance(raw, dict):
            raise PromptError(f"{where} must be an object")
        kind = raw.get("type")
        try:
            if kind == "function":
                return FunctionRef(function_id=raw.get("id"), version=raw.get("version"))
            if kind == "global":
                return FunctionRef(global_function=raw.get("name"), function_type="tool")
            if kind == "slug":
                project_id = raw.get("project_id")
                if self.control_plane is None or not isinstance(project_id, str):
                    raise PromptError(f"{where}: a slug tool needs a project_id this process can look up")
                info = await self.control_plane.object_info(principal.org_id, "project", project_id)
                if info is None:
                    raise NotFound(f"{where}: project {project_id!r} does not exist in this organization")
                return FunctionRef(project_name=info.name, slug=raw.get("slug"))
        except ValueError as exc:
            raise PromptError(f"{where}: {exc}") from exc
        raise PromptError(f"{where}.type must be function, global or slug, got {kind!r}")

    # -- score ----------------------------------------------------------------------------------------

    async def score(
        self,
        principal: Principal,
        scorer: FunctionRef | FunctionDef,
        args: ScorerArgs,
        *,
        parent: SpanParent | SpanTarget | None = None,
        timeout_s: float | None = None,
        span_key: tuple[object, ...] | None = None,
    ) -> list[Score]:
        fn = await self.resolve(principal, scorer)
        data = fn.function_data or {}
        if parent is None and self.runs_inline(fn):  # the hot path of evals: no span, no I/O
            key = builtin.canonical(str(data["name"]))
            return [builtin.heuristic_score(key, str(data["name"]), args, data.get("config") or {})]
        name = display_name(fn)
        target = await self.target(principal, parent) if parent is not None else None
        call = _Call(principal, "auto", False, None, Accounting(), None, timeout_s)
        span = self._span(target, fn, "score", args.as_kwargs(), None, None, span_key)
        await self._prepare(principal, fn)
        try:
            async with asyncio.timeout(timeout_s or self.settings.invoke_timeout_s):
                scores = await self._score(fn, args, call)
        except TimeoutError:
            scores = [
                Score(
                    name,
                    None,
                    {},
                    f"{name} timed out after {timeout_s or self.settings.invoke_timeout_s:g} s",
                )
            ]
        if call.acct.calls and scores:
            scores = [replace(scores[0], calls=tuple(call.acct.calls)), *scores[1:]]
        if span is not None:
            output = scores[0].as_output() if len(scores) == 1 else [s.as_output() for s in scores]
            errors = "; ".join(s.error for s in scores if s.error) or None
            await self._log(span, call.acct, output=output, error=errors)
        return scores

    async def _score(self, fn: FunctionDef, args: ScorerArgs, call: _Call) -> list[Score]:
        """The scores of one scorer on one row; its own failures become `Score.error`."""
        name = display_name(fn)
        data = fn.function_data or {}
        kind = data.get("type")
        org = call.principal.org_id
        try:
            if kind == "global":
                return [
                    await self._global(org, str(data.get("name") or ""), data.get("config") or {}, args, call)
                ]
            if kind == "prompt" or (kind is None and fn.prompt_data):
                return [await self._prompt_score(fn, args, call)]
            if kind == "code":
                out = await self._code(call.principal, fn).scorer(args.as_kwargs(), name)
                if out.error is not None:
                    return [Score(name, None, {}, out.error)]
                return out.scores
            return [Score(name, None, {}, f"{name}: functions of type {kind!r} cannot score")]
        except ProviderError as exc:
            return [Score(name, None, {}, call.acct.failed(exc))]
        except (TemplateError, PromptError) as exc:
            call.acct.failures.append(400)
            return [Score(name, None, {}, f"{name}: {exc}")]
        except (OutputError, RunFailed) as exc:
            return [Score(name, None, {}, f"{name}: {exc}")]
        except Problem as exc:
            return [Score(name, None, {}, f"{name}: {exc.message}")]

    async def _global(
        self, org: str, global_name: str, config: dict[str, Any], args: ScorerArgs, call: _Call
    ) -> Score:
        found = builtin.kind_of(global_name)
        if found is None:
            return Score(global_name, None, {}, f"{global_name!r} is not a known global scorer")
        kind, key = found
        if kind == builtin.LLM_FREE:
            return builtin.heuristic_score(key, global_name, args, config)
        model = str(config.get("model") or args.extra.get("model") or self.settings.default_judge_model)
        client = await self.client(org, model)
        if kind == "template":
            spec = builtin.template(key)
            return await builtin.template_score(
                client, spec, args, config, self.settings.default_judge_model, call.acct, call.timeout_s
            )
        if kind == "embedding":
            return await builtin.embedding_similarity(client, args, config, call.acct, call.timeout_s)
        return await builtin.moderation(client, args, config, call.acct, call.timeout_s)

    async def _prompt_score(self, fn: FunctionDef, args: ScorerArgs, call: _Call) -> Score:
        name = display_name(fn)
        prompt_data = fn.prompt_data or {}
        parser = prompt_data.get("parser")
        variables = template_variables(args.as_kwargs(), args.metadata, args.expected)
        model = str((prompt_data.get("options") or {}).get("model") or "")
        client = await self.client(call.principal.org_id, model)
        if isinstance(parser, dict) and parser.get("type") == "llm_classifier":
            raw_scores = parser.get("choice_scores") or {}
            if not isinstance(raw_scores, dict) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in raw_scores.values()
            ):
                raise PromptError("prompt_data.parser.choice_scores must map each choice to a number")
            body = build_request(prompt_data, variables, strict=call.strict)
            body.pop("tools", None)
            body.pop("tool_choice", None)
            return await builtin.judge(
                client,
                name,
                body,
                {str(k): float(v) for k, v in raw_scores.items()},
                bool(parser.get("use_cot", True)),
                call.acct,
                timeout_s=call.timeout_s,
                allow_no_match=bool(parser.get("allow_no_match")),
            )
        output = await run_prompt(
            client,
            prompt_data,
            variables,
            mode="auto",
            strict=call.strict,
            timeout_s=call.timeout_s,
            accounting=call.acct,
        )
        return _as_score(name, output)


def _as_score(name: str, output: Any) -> Score:
    """A scorer prompt without a classifier parser: its answer read as a score."""
    if isinstance(output, str):
        try:
            output = json.loads(output)
        except json.JSONDecodeError:
            return Score(name, None, {}, f"{name}: the answer is not a score: {output[:200]!r}")
    if isinstance(output, int | float) and not isinstance(output, bool) and not math.isfinite(output):
        return Score(name, None, {}, f"{name}: the answer is not a finite number")
    try:
        found = normalize_scores(output, name)
    except InvalidScore as exc:
        return Score(name, None, {}, f"{name}: {exc}")
    if not found:
        return Score(name, None, {})
    s = found[0]
    return Score(s.name, s.score, dict(s.metadata))
