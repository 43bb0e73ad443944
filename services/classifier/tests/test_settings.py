"""The classifier's settings section: its sources, its validation, and where its values go."""

from __future__ import annotations

from pathlib import Path

import pytest
from loopline.classifier.settings import ClassifierSettings
from loopline.common.settings import SettingsError, load_settings


def test_section_reads_keywords_environment_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().section(ClassifierSettings) == ClassifierSettings()
    s = load_settings(classifier={"batch_size": 50, "llm_model": "claude-3-5-haiku-latest"})
    got = s.section(ClassifierSettings)
    assert (got.batch_size, got.llm_model) == (50, "claude-3-5-haiku-latest")
    monkeypatch.setenv("LOOPLINE_CLASSIFIER__BACKFILL_PAGE_SIZE", "123")
    cfg = tmp_path / "loopline.toml"
    cfg.write_text("[loopline.classifier]\ndefault_threshold = 0.25\nllm_fallback = false\n")
    got = load_settings(config_file=cfg).section(ClassifierSettings)
    assert (got.backfill_page_size, got.default_threshold, got.llm_fallback) == (123, 0.25, False)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"batch_size": 0}, "classifier.batch_size"),
        ({"default_threshold": 1.5}, "classifier.default_threshold"),
        ({"backfill_page_size": "many"}, "classifier.backfill_page_size"),
        ({"no_such": 1}, "classifier.no_such"),
    ],
)
def test_bad_values_name_the_setting(values: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        load_settings(classifier=values).section(ClassifierSettings)
