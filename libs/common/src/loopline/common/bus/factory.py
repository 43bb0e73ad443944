"""Build a bus backend from a URL: `memory://` or `kafka://host:port[,host:port]`.

`memory://?journal=/dir` (and `&fsync=1`) makes the in-process bus durable: see journal.py.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

from loopline.common.bus.base import Bus


def bus_from_url(
    url: str,
    *,
    client_id: str = "loopline",
    default_partitions: int = 8,
    inproc_capacity: int = 100_000,
    journal_dir: Path | None = None,
    inproc_retain_bytes: int = 64 << 20,
    inproc_capacity_bytes: int = 0,
) -> Bus:
    """`journal_dir` journals an in-process bus whose URL names no journal of its own."""
    parsed = urlparse(url)
    if parsed.scheme in ("memory", "inproc", ""):
        from loopline.common.bus.memory import InProcessBus

        query = parse_qs(parsed.query)
        unknown = set(query) - {"journal", "fsync"}
        if unknown:
            raise ValueError(f"bus URL {url!r}: unknown option(s) {sorted(unknown)} (use journal=, fsync=)")
        journal = query.get("journal", [None])[-1]
        fsync = query.get("fsync", ["0"])[-1].lower() in ("1", "true", "yes")
        return InProcessBus(
            default_partitions=default_partitions,
            capacity=inproc_capacity,
            journal_dir=Path(journal) if journal else journal_dir,
            fsync=fsync,
            retain_bytes=inproc_retain_bytes,
            capacity_bytes=inproc_capacity_bytes,
        )
    if parsed.scheme == "kafka":
        from loopline.common.bus.kafka import KafkaBus

        bootstrap = url.split("://", 1)[1].rstrip("/")
        if not bootstrap:
            raise ValueError(f"bus URL {url!r} names no Kafka bootstrap servers (kafka://host:port)")
        return KafkaBus(bootstrap, client_id=client_id, default_partitions=default_partitions)
    raise ValueError(f"unsupported bus URL {url!r}: use memory:// or kafka://host:port")
