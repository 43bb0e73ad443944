"""How ingest's domain errors are answered at the HTTP edge (`ServiceDef.errors`).

The common rows (`ServiceError`, the problem kinds, `RowValidationError`, the store's errors) are
in `loopline.common.http.COMMON_ERRORS`; these are OTLP's."""

from __future__ import annotations

from loopline.common.http import ErrorRule, ErrorTable
from loopline.ingest.otlp import OtlpError, OtlpTooLarge, UnsupportedContentType

ERRORS = ErrorTable(
    {
        OtlpError: ErrorRule(400),  # not a well-formed ExportTraceServiceRequest
        UnsupportedContentType: ErrorRule(415),
        OtlpTooLarge: ErrorRule(413),
    }
)
