"""The step contract's stock parts alone: RunTask timing and hand-on, Done, Collect, submit_waiting."""

from __future__ import annotations

from loopline.common.metrics import PIPELINE_BACKPRESSURE_SECONDS, PIPELINE_STEP_SECONDS
from loopline.common.pipeline import Batch, Collect, Invalid, Rejected, RunTask, Step, submit_waiting


def _sample(metric: object, name: str, labels: dict[str, str]) -> float:
    for family in metric.collect():  # type: ignore[attr-defined]
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


async def test_run_task_hands_on_its_result_and_times_itself() -> None:
    async def double(batch: Batch[list[int]]) -> list[int]:
        return [2 * x for x in batch.value]

    labels = {"pipeline": "t-run", "step": "double"}
    before = _sample(PIPELINE_STEP_SECONDS, "loopline_pipeline_step_seconds_count", labels)
    end: Collect[list[int]] = Collect()
    step = RunTask("t-run", "double", double, end)
    await step.submit(Batch([1, 2], []))
    await step.join()
    assert end.values == [[2, 4]]
    assert _sample(PIPELINE_STEP_SECONDS, "loopline_pipeline_step_seconds_count", labels) == before + 1


async def test_rejects_travel_with_the_batch() -> None:
    async def evens(batch: Batch[list[int]]) -> list[int]:
        for x in batch.value:
            if x % 2:
                batch.reject(_Msg(str(x).encode()), f"{x} is odd")
        return [x for x in batch.value if x % 2 == 0]

    end: Collect[list[int]] = Collect()
    invalid: list[Invalid] = []
    await RunTask("t-rej", "evens", evens, end).submit(Batch([1, 2, 3], invalid))
    assert end.values == [[2]]
    assert [(i.message.key, i.reason) for i in invalid] == [(b"1", "1 is odd"), (b"3", "3 is odd")]


class _Msg:
    def __init__(self, key: bytes) -> None:
        self.key = key
        self.value = b""


class _FullOnce(Step[int]):
    """Rejects the first submit, accepts after `room()`."""

    name = "full-once"

    def __init__(self) -> None:
        self.got: list[int] = []
        self.full = True
        self.waited = 0

    async def submit(self, batch: Batch[int]) -> None:
        if self.full:
            raise Rejected("full")
        self.got.append(batch.value)

    async def room(self) -> None:
        self.waited += 1
        self.full = False

    async def join(self) -> None:
        return None


async def test_submit_waiting_waits_for_room_and_measures_it() -> None:
    labels = {"pipeline": "t-bp", "step": "full-once"}
    name = "loopline_pipeline_backpressure_seconds_total"
    before = _sample(PIPELINE_BACKPRESSURE_SECONDS, name, labels)
    step = _FullOnce()
    await submit_waiting(step, Batch(7, []), "t-bp")
    assert step.got == [7] and step.waited == 1
    assert _sample(PIPELINE_BACKPRESSURE_SECONDS, name, labels) > before
