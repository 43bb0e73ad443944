"""All services this build knows, by name."""

from __future__ import annotations

import importlib

from loopline.common.service import ServiceDef

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
