"""What flows between steps: a batch value, and the one way to reject a message (`Invalid`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")
U = TypeVar("U")


class Keyed(Protocol):
    """A message as consumed (`bus.Message`) or as it would be published (`bus.OutMessage`)."""

    @property
    def key(self) -> bytes: ...

    @property
    def value(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Invalid:
    """A message that will never be processed, whatever the retries: it goes, with the reason, to
    the pipeline's dead-letter sink, and the rest of the batch goes on. Anything transient (the
    store or the bus unreachable) is not Invalid: the step raises, and the bus redelivers."""

    message: Keyed
    reason: str


@dataclass(slots=True)
class Batch(Generic[T]):
    """A step's input. `invalid` is shared by every batch of one pipeline run (one bus batch), so a
    step anywhere in the chain rejects with `batch.reject(message, reason)`."""

    value: T
    invalid: list[Invalid]

    def reject(self, message: Keyed, reason: str) -> None:
        self.invalid.append(Invalid(message, reason))

    def with_value(self, value: U) -> Batch[U]:
        return Batch(value, self.invalid)
