"""The function runtime's settings section (`[loopline.runtime]`, `LOOPLINE_RUNTIME__<FIELD>`)."""

from __future__ import annotations

from typing import ClassVar

from loopline.common.settings import SettingsSection
from pydantic import Field


class RuntimeSettings(SettingsSection):
    SECTION: ClassVar[str] = "runtime"

    # the judge model of autoevals' model-graded scorers (Factuality, ClosedQA, …) when neither
    # the call nor the global function's config names one (autoevals' own default is a placeholder)
    default_judge_model: str = "gpt-4o-mini"
    # an invocation (task or scorer) that runs longer than this fails with a timeout (504)
    invoke_timeout_s: float = Field(default=300.0, gt=0)
