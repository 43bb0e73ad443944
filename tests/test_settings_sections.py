"""The services' settings sections: unique names, no variable read by two settings."""

from __future__ import annotations

from collections import Counter

from loopline.common.settings import Settings

from loopline.runtime.registry import ALL_SERVICES, known_env_names, service_def


def test_section_names_are_unique_and_variables_unambiguous() -> None:
    sections = [s for name in ALL_SERVICES for s in service_def(name).sections]
    assert len({s.SECTION for s in sections}) == len(sections), [s.SECTION for s in sections]
    shared = {f"LOOPLINE_{f}".upper() for f in Settings.model_fields}
    seen: Counter[str] = Counter()
    for s in sections:
        for f in s.model_fields:
            seen.update(set(s.env_names(f)))
    twice = [n for n, c in seen.items() if c > 1]
    assert not twice, f"read by two sections: {twice}"
    assert not shared & set(seen), f"read by a section and the shared settings: {shared & set(seen)}"
    assert set(seen) | shared == known_env_names()


def test_every_section_loads_with_its_defaults() -> None:
    s = Settings()
    for name in ALL_SERVICES:
        for section in service_def(name).sections:
            assert s.section(section) == section()
