"""Ingest's state: built once by `service.start`, read by the routes through `deps`."""

from __future__ import annotations

from dataclasses import dataclass

from loopline.ingest.blobs import BlobStore, UrlSigner
from loopline.ingest.dead_letters import DeadLetters
from loopline.ingest.write_api import WriteAPI


@dataclass(frozen=True)
class State:
    write_api: WriteAPI  # validate, check ownership, publish, acknowledge
    dead_letters: DeadLetters  # the operator's dead-letter list and replay
    blobs: BlobStore  # attachments and `/logs3` overflow payloads
    signer: UrlSigner  # signs and checks `/blob/{token}` URLs
