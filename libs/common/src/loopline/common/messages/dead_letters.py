"""`loopline.rows.dlq`: messages the writer will never apply, with the reason.

Value: the original message's bytes, unchanged (for a row the writer could not merge or store:
the row write it came from, re-encoded), so a replay republishes it as it was. Key: the original
key (the row key for `loopline.rows`). Header `reason`: UTF-8 text saying what was wrong. One
partition: dead letters are rare and read in order by an operator. The same letters are kept in
the `dead_letters` table (ingest's), which `loopline dlq list|replay` reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from loopline.common.bus import Message, OutMessage
from loopline.common.messages.contract import OPERATOR, WRITER, Headers, TopicContract

TOPIC = "loopline.rows.dlq"
SCHEMA_VERSION = 1
PRODUCERS = (WRITER,)
CONSUMERS = (OPERATOR,)
REASON_HEADER = "reason"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: bytes
    value: bytes
    reason: str


def original(letter: DeadLetter) -> OutMessage:
    """The message as it was before it was dead-lettered, to republish on its topic (replay)."""
    return OutMessage(letter.key, letter.value)


def key(letter: DeadLetter) -> bytes:
    return letter.key


def encode(letter: DeadLetter) -> bytes:
    return letter.value


def decode(value: bytes) -> DeadLetter:
    """The value alone (no key, no reason); consumers use `read` on the whole message."""
    return DeadLetter(b"", value, "")


def headers(letter: DeadLetter) -> Headers:
    return ((REASON_HEADER, letter.reason.encode()),)


def from_message(message: Message) -> DeadLetter:
    reason = next((v for k, v in message.headers if k == REASON_HEADER), b"")
    return DeadLetter(message.key, message.value, reason.decode(errors="replace"))


CONTRACT: TopicContract[DeadLetter] = TopicContract(
    name=TOPIC,
    schema_version=SCHEMA_VERSION,
    producers=PRODUCERS,
    consumers=CONSUMERS,
    key=key,
    encode=encode,
    decode=decode,
    partitions=lambda _n: 1,
    headers=headers,
    from_message=from_message,
)
