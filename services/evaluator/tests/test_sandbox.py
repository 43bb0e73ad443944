"""The sandbox's API as the evaluator uses it: how code scorers and code functions are called,
what their return values become, limits, warm and cold supervisors, basic mode."""

from __future__ import annotations

import asyncio
import os
import tempfile
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from loopline.common.settings import load_settings
from loopline.evaluator.sandbox import isolation
from loopline.evaluator.sandbox.limits import SandboxLimits
from loopline.evaluator.sandbox.results import FunctionResult, SandboxError, Score, ScoreResult
from loopline.evaluator.sandbox.runner import Sandbox, SandboxUnavailable, clamp_limits
from loopline.evaluator.sandbox.settings import SandboxSettings

pytestmark = pytest.mark.timeout(60)

SETTINGS = SandboxSettings(wall_seconds=5.0, cpu_seconds=2, memory_mb=256, concurrency=2, uid_base=2_310_000)
ROW = {"input": {"q": "2+2"}, "output": "4", "expected": "4", "metadata": {"lang": "en"}}


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(SETTINGS) as box:
        yield box


def in_private_tmp() -> list[str]:
    """What a call's fresh /tmp holds: nothing, but the first directory of the interpreter's
    trees when they live under /tmp (a checkout there; bound back read-only, see child.py)."""
    if not isolation.namespaces_available():
        return []
    return sorted({p.split("/")[2] for p in isolation.python_paths() if p.startswith("/tmp/")})


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip()


async def scores(box: Sandbox, source: str, **kwargs: object) -> tuple[Score, ...]:
    result = await box.run_scorer(code(source), ROW, **kwargs)  # type: ignore[arg-type]
    assert isinstance(result, ScoreResult), result
    return result.scores


async def output(box: Sandbox, source: str, input: object) -> object:
    result = await box.run_function(code(source), input)
    assert isinstance(result, FunctionResult), result
    return result.output


async def failure(result: object) -> SandboxError:
    assert isinstance(result, SandboxError), result
    return result


async def test_scorer_receives_only_the_arguments_it_declares(sandbox: Sandbox) -> None:
    assert await scores(
        sandbox, "def handler(output, expected):\n    return 1.0 if output == expected else 0.0\n"
    ) == (Score("scorer", 1.0),)
    got = await sandbox.run_function("def handler(**kw):\n    return kw\n", ROW)
    assert isinstance(got, FunctionResult) and got.output == ROW
    assert await scores(
        sandbox,
        "def handler(input, output, expected, metadata):\n    return 0.5 if metadata['lang'] == 'en' else 0\n",
    ) == (Score("scorer", 0.5),)


async def test_scorer_names_and_multiple_scores(sandbox: Sandbox) -> None:
    assert await scores(sandbox, "def handler(output):\n    return 1\n", name="Exact") == (
        Score("Exact", 1.0),
    )
    assert await scores(
        sandbox,
        """
        def handler(output, expected):
            return [{"name": "len", "score": 0.25, "metadata": {"n": len(output)}}, {"name": "same", "score": True}]
        """,
    ) == (Score("len", 0.25, {"n": 1}), Score("same", 1.0))
    assert await scores(sandbox, "def handler(output):\n    return None\n") == ()


async def test_scorer_values_that_are_not_scores_are_invalid_results(sandbox: Sandbox) -> None:
    result = await failure(await sandbox.run_scorer("def handler(output):\n    return 2\n", ROW, name="Big"))
    assert (
        result.kind == "invalid_result"
        and result.message == "scorer 'Big': result must be between 0 and 1, got 2"
    )
    for value in ("float('nan')", "[0.5, float('inf')]", "{'name': 'x', 'score': float('-inf')}"):
        result = await failure(await sandbox.run_scorer(f"def handler(output):\n    return {value}\n", ROW))
        assert (
            result.kind == "invalid_result"
            and result.message == "scorer returned a score that is NaN or infinite"
        )
    result = await failure(await sandbox.run_scorer("def handler(output):\n    return object()\n", ROW))
    assert result.kind == "invalid_result" and result.message.endswith("not JSON serializable: object")


async def test_objects_with_as_dict_sets_and_async_handlers(sandbox: Sandbox) -> None:
    assert await scores(
        sandbox,
        """
        class Score:  # shaped like autoevals.Score
            def __init__(self, name, score):
                self.name, self.score = name, score
            def as_dict(self):
                return {"name": self.name, "score": self.score}
        def handler(output):
            return Score("Custom", 0.75)
        """,
    ) == (Score("Custom", 0.75),)
    assert await output(sandbox, "def handler(x):\n    return {1, 2}\n", {"x": 0}) in ([1, 2], [2, 1])
    assert (
        await output(
            sandbox,
            "import asyncio\nasync def handler(x):\n    await asyncio.sleep(0)\n    return x * 2\n",
            {"x": 21},
        )
        == 42
    )


async def test_an_autoevals_scorer_runs_in_the_sandbox(sandbox: Sandbox) -> None:
    pytest.importorskip("autoevals")
    assert await scores(
        sandbox,
        """
        from autoevals import Levenshtein
        def handler(output, expected):
            return Levenshtein()(output, expected)
        """,
    ) == (Score("Levenshtein", 1.0),)
    result = await sandbox.run_scorer_batch(
        "from autoevals import ExactMatch\ndef handler(output, expected):\n    return ExactMatch()(output, expected)\n",
        [{"output": "a", "expected": "a"}, {"output": "a", "expected": "b"}],
    )
    assert [r.scores for r in result if isinstance(r, ScoreResult)] == [
        (Score("ExactMatch", 1.0),),
        (Score("ExactMatch", 0.0),),
    ]


async def test_functions_get_object_fields_as_keywords_or_the_whole_input(sandbox: Sandbox) -> None:
    assert await output(sandbox, "def handler(a, b):\n    return a + b\n", {"a": 1, "b": 2}) == 3
    assert await output(sandbox, "def handler(a, b=10):\n    return a + b\n", {"a": 1, "c": 5}) == 11
    assert await output(sandbox, "def handler(input):\n    return sorted(input)\n", {"x": 1, "y": 2}) == [
        "x",
        "y",
    ]
    assert await output(sandbox, "def handler(text):\n    return text.upper()\n", "hi") == "HI"
    result = await sandbox.run_function("def run(n):\n    return list(range(n))\n", 3, entrypoint="run")
    assert isinstance(result, FunctionResult) and result.output == [0, 1, 2]


async def test_code_problems_are_described(sandbox: Sandbox) -> None:
    result = await failure(await sandbox.run_function("def helper():\n    pass\n", {}))
    assert result.kind == "user_error"
    assert result.message == "function defines no function 'handler' (functions defined: ['helper'])"
    result = await failure(await sandbox.run_function("def handler(:\n    pass\n", {}))
    assert result.kind == "user_error" and result.message.startswith("function has a syntax error")
    assert "(line 1)" in result.message
    result = await failure(
        await sandbox.run_function("def handler(x):\n    y = 1\n    return x / 0\n", {"x": 1})
    )
    assert (
        result.kind == "user_error"
        and result.message == "function raised ZeroDivisionError: division by zero"
    )
    assert 'File "<user code>", line 3, in handler' in result.traceback
    assert "return x / 0" in result.traceback
    result = await failure(await sandbox.run_function("def handler(a, c):\n    return a\n", {"a": 1, "b": 1}))
    assert result.kind == "user_error" and "missing 1 required positional argument: 'c'" in result.message


async def test_arguments_that_cannot_be_sent_are_refused_before_running(sandbox: Sandbox) -> None:
    result = await failure(await sandbox.run_function("def handler(x):\n    return x\n", {"x": object()}))
    assert result.kind == "invalid_request" and "not JSON" in result.message


async def test_per_call_limits_can_only_be_lower(sandbox: Sandbox) -> None:
    assert clamp_limits(SandboxLimits(wall_seconds=100, memory_bytes=1), SETTINGS.limits()) == SandboxLimits(
        **{**SETTINGS.limits().to_wire(), "wall_seconds": 5.0, "memory_bytes": 1}
    )
    result = await failure(
        await sandbox.run_function(
            "import time\ndef handler():\n    time.sleep(60)\n", {}, limits=SandboxLimits(wall_seconds=0.5)
        )
    )
    assert result.kind == "timeout" and result.message == "function did not finish within 0.5 s (wall time)"
    result = await failure(
        await sandbox.run_function(
            "def handler():\n    return 'x' * 2000\n", {}, limits=SandboxLimits(output_bytes=1000)
        )
    )
    assert result.kind == "output_limit"


async def test_calls_beyond_the_concurrency_wait_their_turn(sandbox: Sandbox) -> None:
    source = "import time\ndef handler(i):\n    time.sleep(0.05)\n    return i\n"
    results = await asyncio.gather(*(sandbox.run_function(source, {"i": i}) for i in range(12)))
    assert [r.output for r in results if isinstance(r, FunctionResult)] == list(range(12))


async def test_each_call_starts_from_a_fresh_process(sandbox: Sandbox) -> None:
    source = """
        import json, os
        def handler(mark):
            seen = {"module_state": getattr(json, "_mark", None), "files": os.listdir(".")}
            json._mark = mark
            with open("left-behind", "w") as fh:
                fh.write("x")
            return seen
        """
    fresh = {"module_state": None, "files": in_private_tmp()}
    assert await output(sandbox, source, {"mark": 1}) == fresh
    assert await output(sandbox, source, {"mark": 2}) == fresh


async def test_cold_mode_runs_each_call_in_a_new_supervisor() -> None:
    box = Sandbox(SETTINGS.model_copy(update={"warm": False}))
    report = await box.start()
    assert report.mode in {"namespaces", "basic"}
    assert await output(box, "def handler(a):\n    return a + 1\n", {"a": 1}) == 2
    result = await failure(await box.run_function("import sys\ndef handler():\n    sys.exit(2)\n", {}))
    assert result.message == "function called sys.exit(2)"
    assert box._warm is None
    await box.close()


async def test_basic_mode_runs_code_and_says_what_it_lacks() -> None:
    async with Sandbox(SETTINGS.model_copy(update={"isolation": "basic"})) as box:
        assert box._warm is not None and box._warm.report is not None
        report = box._warm.report
        assert report.mode == "basic"
        assert any("network" in line for line in report.missing)
        assert await output(box, "import os\ndef handler():\n    return dict(os.environ)\n", {}) == {}
        got = await output(box, "import os\ndef handler():\n    return os.getcwd()\n", {})
        assert isinstance(got, str) and "loopline-sandbox-" in got
        result = await failure(
            await box.run_function(
                "import time\ndef handler():\n    time.sleep(60)\n",
                {},
                limits=SandboxLimits(wall_seconds=0.5),
            )
        )
        assert result.kind == "timeout"


async def test_namespaces_mode_reports_its_isolation(sandbox: Sandbox) -> None:
    assert sandbox._warm is not None and sandbox._warm.report is not None
    report = sandbox._warm.report
    if not isolation.namespaces_available():
        pytest.skip("namespaces need root")
    assert report.mode == "namespaces"
    assert any("network namespace" in line for line in report.enforced)
    assert any(line.startswith("read-only root with only: ") for line in report.enforced)


async def test_namespaces_mode_without_root_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation, "namespaces_available", lambda: False)
    with pytest.raises(SandboxUnavailable, match="needs root"):
        Sandbox(SETTINGS.model_copy(update={"isolation": "namespaces"}))
    assert Sandbox(SETTINGS).mode == "basic"


def test_uid_base_leaves_room_for_every_uid_block() -> None:
    with pytest.raises(ValueError, match="uid_base"):
        SandboxSettings(uid_base=4_000_000_000)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPLINE_SANDBOX_WALL_SECONDS", "7.5")
    monkeypatch.setenv("LOOPLINE_SANDBOX__MEMORY_MB", "128")
    limits = load_settings().section(SandboxSettings).limits()
    assert limits.wall_seconds == 7.5 and limits.memory_bytes == 128 * 1024 * 1024


BATCH_SETTINGS = SETTINGS.model_copy(update={"max_batch": 8, "wall_seconds": 30.0, "cpu_seconds": 1})


@pytest.fixture
async def batching() -> AsyncIterator[Sandbox]:
    async with Sandbox(BATCH_SETTINGS) as box:
        yield box


async def test_a_batch_scores_every_row_in_order_with_its_own_logs(batching: Sandbox) -> None:
    rows = [{"input": i, "output": i % 3, "expected": 0, "metadata": {}} for i in range(30)]
    results = await batching.run_scorer_batch(
        "def handler(input, output, expected):\n    print('row', input)\n    return output == expected\n",
        rows,
        name="zero",
    )
    assert all(isinstance(r, ScoreResult) for r in results), results
    assert [r.scores for r in results if isinstance(r, ScoreResult)] == [
        (Score("zero", 1.0 if i % 3 == 0 else 0.0),) for i in range(30)
    ]
    assert [r.logs for r in results] == [f"row {i}\n" for i in range(30)]


async def test_a_failing_row_fails_alone(batching: Sandbox) -> None:
    source = """
        import os, time
        def handler(x):
            if x == "raise":
                raise ValueError("bad row")
            if x == "exit":
                os._exit(3)
            if x == "hang":
                time.sleep(3600)
            return len(x)
        """
    inputs = ["a", "raise", "bb", "exit", "ccc", "hang", "dddd"]
    results = await batching.run_function_batch(
        code(source), [{"x": x} for x in inputs], limits=SandboxLimits(wall_seconds=2.0)
    )
    kinds = [r.kind if isinstance(r, SandboxError) else r.output for r in results]
    assert kinds == [1, "user_error", 2, "crashed", 3, "timeout", 4]


async def test_each_row_of_a_batch_has_its_own_cpu_budget(batching: Sandbox) -> None:
    source = """
        import time
        def handler(i):
            start = time.process_time()
            while time.process_time() - start < 0.6:
                pass
            return i
        """
    results = await batching.run_function_batch(code(source), [{"i": i} for i in range(3)])
    assert [r.output if isinstance(r, FunctionResult) else r for r in results] == [0, 1, 2]


async def test_a_module_that_fails_to_load_fails_every_row(batching: Sandbox) -> None:
    results = await batching.run_scorer_batch("raise ImportError('no such thing')\n", [ROW, ROW, ROW])
    assert [r.message if isinstance(r, SandboxError) else r for r in results] == [
        "scorer raised ImportError: no such thing"
    ] * 3


async def test_rows_share_a_process_only_within_one_batch(batching: Sandbox) -> None:
    source = "seen = []\ndef handler(i):\n    seen.append(i)\n    return list(seen)\n"
    results = await batching.run_function_batch(source, [{"i": i} for i in range(10)])
    outputs = [r.output for r in results if isinstance(r, FunctionResult)]
    assert outputs[:8] == [list(range(i + 1)) for i in range(8)]  # one process for max_batch rows
    assert outputs[8:] == [[8], [8, 9]]  # the next batch starts from a fresh process


@pytest.fixture
def host_tmp_dir() -> Iterator[str]:
    """A directory under host /tmp holding hello.txt, readable by the calls' users."""
    with tempfile.TemporaryDirectory(dir="/tmp") as shared:
        os.chmod(shared, 0o755)  # as a checkout's virtualenv is (the calls run as other users)
        Path(shared, "hello.txt").write_text("from host tmp")
        yield shared


async def test_read_paths_under_host_tmp_are_readable_in_each_call_and_not_writable(
    host_tmp_dir: str,
) -> None:
    """An interpreter, virtualenv or read path installed under /tmp (a CI checkout there) stays
    visible: the supervisor's new root and each call's private /tmp bind it back read-only."""
    if not isolation.namespaces_available():
        pytest.skip("namespaces need root")
    shared = host_tmp_dir
    settings = SETTINGS.model_copy(update={"read_paths": [shared]})
    async with Sandbox(settings) as box:
        source = f"""
            import os
            def handler(input):
                with open({shared + "/hello.txt"!r}) as fh:
                    seen = fh.read()
                try:
                    open({shared + "/new.txt"!r}, "w").close()
                    wrote = "wrote"
                except OSError as exc:
                    wrote = type(exc).__name__
                with open("/tmp/mine.txt", "w") as fh:  # the call's own /tmp is still writable
                    fh.write("x")
                return [seen, wrote, sorted(os.listdir("/tmp"))]
        """
        first = await output(box, source, None)
        second = await output(box, source, None)
    assert first == second
    seen, wrote, listing = first  # type: ignore[misc]
    assert seen == "from host tmp" and wrote in ("OSError", "PermissionError")
    assert "mine.txt" in listing and not await asyncio.to_thread(Path(shared, "new.txt").exists)
