"""What a topic contract is: the one description of a topic that producers and consumers share.

Every topic Loopline uses has one module in this package (`rows`, `committed`, `eval_jobs`,
`dead_letters`) that defines its message type and exports a `CONTRACT`: the topic's name, its
key function, the codec, the schema version, its partition count, and which services produce and
consume it. A service builds and reads messages only through these modules, never through another
service's package (the anchor is sentry-kafka-schemas: one place per topic, with examples that a
test decodes — `libs/common/tests/messages/examples/<topic>/*.json`).

Schema versions: `schema_version` is the newest version a module writes and reads. Version 1
payloads carry no version field (they predate it, and journals and dead letters still hold them);
a later version adds `"v": <n>` to the payload and its decoder keeps reading every older one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from loopline.common.bus import Message, OutMessage, TopicSpec

M = TypeVar("M")

Headers = tuple[tuple[str, bytes], ...]

# Service names as the runtime registry knows them (`loopline serve <name>`), plus the operator.
INGEST = "ingest"
WRITER = "writer"
EVALUATOR = "evaluator"
CLASSIFIER = "classifier"
OPERATOR = "operator"  # a person, through `loopline dlq list|replay` and /api/admin/dlq


class MessageDecodeError(ValueError):
    """Bytes on a topic that are not a message of that topic's contract (never worth retrying)."""


def _no_headers(_message: object) -> Headers:
    return ()


#: Kafka topic configuration of every topic Loopline creates. A row the API accepts may be up to
#: LOOPLINE_MAX_ROW_BYTES (20 MiB) plus its envelope: Kafka's default of 1 MiB per message made
#: such rows a 503 the client would retry forever (soak, issue 10). The producer allows 64 MiB.
TOPIC_CONFIG: dict[str, str] = {"max.message.bytes": str(64 * 1024 * 1024)}


@dataclass(frozen=True, slots=True)
class TopicContract(Generic[M]):
    """One topic's contract. `out` and `read` turn a message into a bus message and back."""

    name: str
    schema_version: int
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    key: Callable[[M], bytes]
    encode: Callable[[M], bytes]
    decode: Callable[[bytes], M]
    #: partitions of the topic, from the deployment's default partition count
    partitions: Callable[[int], int] = field(default=lambda n: n)
    headers: Callable[[M], Headers] = field(default=_no_headers)
    #: builds the message from a whole bus message; the default decodes the value only
    from_message: Callable[[Message], M] | None = None

    def out(self, message: M) -> OutMessage:
        return OutMessage(self.key(message), self.encode(message), self.headers(message))

    def read(self, message: Message) -> M:
        """Decode a consumed message; raises MessageDecodeError when it is not one of ours."""
        if self.from_message is not None:
            return self.from_message(message)
        return self.decode(message.value)

    def spec(self, default_partitions: int) -> TopicSpec:
        return TopicSpec(self.name, self.partitions(default_partitions), dict(TOPIC_CONFIG))
