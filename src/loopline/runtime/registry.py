"""All services this build knows, by name."""

from __future__ import annotations

import importlib

from loopline.common.schema import Migration
from loopline.common.service import ServiceDef
from loopline.common.settings import Settings

_MODULES = {
    "gateway": "loopline.gateway.service",
    "ingest": "loopline.ingest.service",
    "writer": "loopline.ingest.writer_service",
    "query": "loopline.query.service",
    "evaluator": "loopline.evaluator.service",
    "classifier": "loopline.classifier.service",
    "loop-agent": "loopline.loop_agent.service",
}

ALL_SERVICES = tuple(_MODULES)


def service_def(name: str) -> ServiceDef:
    if name not in _MODULES:
        raise ValueError(f"unknown service {name!r}; known: {', '.join(ALL_SERVICES)}")
    try:
        module = importlib.import_module(_MODULES[name])
    except ModuleNotFoundError as exc:
        if exc.name == _MODULES[name]:
            return ServiceDef(name=name)
        raise
    sd = module.SERVICE
    assert isinstance(sd, ServiceDef)
    return sd


def parse_services(spec: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in spec.split(",") if s.strip())
    if not names:
        raise ValueError("name at least one service")
    for n in names:
        service_def(n)
    return names


def all_migrations() -> tuple[Migration, ...]:
    """Every known service's migrations in version order; a version claimed twice is an error
    that names both owners."""
    owner: dict[int, str] = {}
    out: list[Migration] = []
    for name in ALL_SERVICES:
        for m in service_def(name).migrations:
            if m.version in owner:
                raise ValueError(
                    f"migration {m.version} is declared by both {owner[m.version]!r} and {name!r}"
                )
            owner[m.version] = name
            out.append(m)
    return tuple(sorted(out, key=lambda m: m.version))


def known_env_names() -> frozenset[str]:
    """Every `LOOPLINE_*` variable a setting reads: the shared `Settings` and every known
    service's section (its nested and flat spellings)."""
    names = {f"LOOPLINE_{f}".upper() for f in Settings.model_fields}
    for name in ALL_SERVICES:
        for section in service_def(name).sections:
            names.update(n for f in section.model_fields for n in section.env_names(f))
    return frozenset(names)
