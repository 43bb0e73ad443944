"""The ingest service's settings section (`[loopline.ingest]`, `LOOPLINE_INGEST__<F>`; the flat
names `LOOPLINE_MAX_REQUEST_BYTES` and the like from before sections still work)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from loopline.common.settings import SettingsSection
from pydantic import Field


class IngestSettings(SettingsSection):
    SECTION: ClassVar[str] = "ingest"
    FLAT_NAMES: ClassVar[dict[str, str]] = {
        "max_request_bytes": "max_request_bytes",
        "max_row_bytes": "max_row_bytes",
        "publish_timeout_s": "publish_timeout_s",
        "blob_url": "blob_url",
    }

    #: a request body (after decompression) above this is refused with 413
    max_request_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    #: one row above this is refused with 413 (it names the row)
    max_row_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    #: how long an acknowledgement may wait for the bus before the request fails with 503
    publish_timeout_s: float = Field(default=10.0, gt=0)
    #: attachments: file:///dir or s3://bucket/prefix?endpoint=…; default under the data dir
    blob_url: str = ""

    def effective_blob_url(self, data_dir: Path) -> str:
        return self.blob_url or f"file://{(data_dir / 'blobs').resolve()}"
