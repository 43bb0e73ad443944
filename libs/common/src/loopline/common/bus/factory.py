"""Build a bus backend from a URL: `memory://` or `kafka://host:port[,host:port]`."""

from __future__ import annotations

from urllib.parse import urlparse

from loopline.common.bus.base import Bus


def bus_from_url(
    url: str, *, client_id: str = "loopline", default_partitions: int = 8, inproc_capacity: int = 100_000
) -> Bus:
    parsed = urlparse(url)
    if parsed.scheme in ("memory", "inproc", ""):
        from loopline.common.bus.memory import InProcessBus

        return InProcessBus(default_partitions=default_partitions, capacity=inproc_capacity)
    if parsed.scheme == "kafka":
        from loopline.common.bus.kafka import KafkaBus

        bootstrap = url.split("://", 1)[1].rstrip("/")
        if not bootstrap:
            raise ValueError(f"bus URL {url!r} names no Kafka bootstrap servers (kafka://host:port)")
        return KafkaBus(bootstrap, client_id=client_id, default_partitions=default_partitions)
    raise ValueError(f"unsupported bus URL {url!r}: use memory:// or kafka://host:port")
