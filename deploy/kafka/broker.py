#!/usr/bin/env python3
"""A single-node Apache Kafka (KRaft) broker for development and tests, run from its jars.

    python deploy/kafka/broker.py resolve                 # Maven → deploy/kafka/.kafka/lib
    python deploy/kafka/broker.py start [--port 9092] [--data-dir DIR]
    python deploy/kafka/broker.py status|stop [--data-dir DIR]

The jars come from Maven Central (pom.xml beside this file). The broker listens on 127.0.0.1
only (broker and controller listeners), keeps its log and pid in the data directory, and is
stopped with SIGTERM (SIGKILL after a timeout). Importable: `LocalKafka(port, data_dir)`.
Standard library only, so it runs before the project's virtualenv exists.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIB = HERE / ".kafka" / "lib"
DEFAULT_DATA = HERE / ".kafka" / "data"

LOG4J2 = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <File name="file" fileName="${sys:kafka.logs.dir}/server.log" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="file"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="org.apache.kafka.controller" level="INFO"/>
  </Loggers>
</Configuration>
"""


class KafkaError(RuntimeError):
    pass


def resolve(quiet: bool = True) -> Path:
    """Download the broker jars with Maven (cached in ~/.m2 and .kafka/lib)."""
    marker = LIB / ".resolved"
    pom = HERE / "pom.xml"
    if marker.exists() and marker.stat().st_mtime >= pom.stat().st_mtime:
        return LIB
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaError("Maven (mvn) is not installed: it is needed to fetch the Apache Kafka jars")
    if shutil.which("java") is None:
        raise KafkaError("Java is not installed: the Apache Kafka broker needs Java 17+")
    if LIB.exists():
        shutil.rmtree(LIB)
    cmd = [mvn, "-B", "-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={LIB}"]
    if quiet:
        cmd.insert(1, "-q")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise KafkaError(
            f"mvn failed to resolve the Kafka jars:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    marker.touch()
    return LIB


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalKafka:
    """One KRaft broker+controller on 127.0.0.1:`port`, data under `data_dir`."""

    def __init__(
        self, port: int = 9092, data_dir: Path | str = DEFAULT_DATA, controller_port: int | None = None
    ) -> None:
        self.port = port
        self.controller_port = controller_port or free_port()
        self.data_dir = Path(data_dir).resolve()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / "server.log"

    def _java(self, main: str, *args: str, **kw: object) -> list[str]:
        heap = os.environ.get("LOOPLINE_KAFKA_HEAP", "-Xmx512m")
        return [
            "java",
            heap,
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.xml'}",
            f"-Dkafka.logs.dir={self.data_dir / 'logs'}",
            "-cp",
            f"{LIB}/*",
            main,
            *args,
        ]

    def _config(self) -> Path:
        # the controller port is remembered so a restart keeps the same quorum address
        cp_file = self.data_dir / "controller.port"
        if cp_file.exists():
            self.controller_port = int(cp_file.read_text())
        else:
            cp_file.write_text(str(self.controller_port))
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir / "log"),
            "num.partitions": "8",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "log.retention.hours": "24",
            "log.segment.bytes": str(256 * 1024 * 1024),
            "num.network.threads": "2",
            "num.io.threads": "4",
            "log.flush.interval.messages": str(2**62),
            # rows up to LOOPLINE_MAX_ROW_BYTES (20 MiB) + envelope; topics Loopline creates set
            # max.message.bytes themselves, this covers auto-created ones
            "message.max.bytes": str(64 * 1024 * 1024),
            "replica.fetch.max.bytes": str(64 * 1024 * 1024),
        }
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.data_dir / "log4j2.xml").write_text(LOG4J2)
        return path

    def _format(self, config: Path) -> None:
        if (self.data_dir / "log" / "meta.properties").exists():
            return
        cluster_id = uuid.uuid4().hex[:22]
        cmd = self._java(
            "kafka.tools.StorageTool",
            "format",
            "--config",
            str(config),
            "--cluster-id",
            cluster_id,
            "--standalone",
            "--ignore-formatted",
        )
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise KafkaError(
                f"formatting Kafka storage failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
            )

    def start(self, timeout_s: float = 90.0) -> LocalKafka:
        resolve()
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        if _port_open(self.port):
            raise KafkaError(f"port {self.port} on 127.0.0.1 is already in use")
        config = self._config()
        self._format(config)
        out = (self.data_dir / "logs" / "stdout.log").open("ab")
        self.proc = subprocess.Popen(
            self._java("kafka.Kafka", str(config)),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid_file.write_text(str(self.proc.pid))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise KafkaError(
                    f"the Kafka broker exited with {self.proc.returncode}; see {self.log_file}\n{self._tail()}"
                )
            if _port_open(self.port) and "started (kafka.server.KafkaRaftServer)" in self._tail(200_000):
                return self
            time.sleep(0.2)
        self.stop()
        raise KafkaError(
            f"the Kafka broker did not start within {timeout_s}s; see {self.log_file}\n{self._tail()}"
        )

    def _tail(self, n: int = 3000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-n:]
        except FileNotFoundError:
            return ""

    def _pid(self) -> int | None:
        if self.proc is not None:
            return self.proc.pid if self.proc.poll() is None else None
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None

    def running(self) -> bool:
        return self._pid() is not None

    def stop(self, timeout_s: float = 30.0, kill: bool = False) -> None:
        pid = self._pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None:
                if self.proc.poll() is not None:
                    break
            else:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            if self.proc is not None:
                self.proc.wait(10)
        self.pid_file.unlink(missing_ok=True)
        # wait for the port to be released so a restart can bind it
        deadline = time.monotonic() + 10
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def restart(self) -> None:
        self.stop()
        self.start()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["resolve", "start", "stop", "status"])
    ap.add_argument("--port", type=int, default=9092)
    ap.add_argument("--data-dir", default=str(DEFAULT_DATA))
    a = ap.parse_args()
    k = LocalKafka(a.port, a.data_dir)
    try:
        if a.action == "resolve":
            print(resolve(quiet=False))
        elif a.action == "start":
            k.start()
            k.proc = None  # leave it running
            print(f"Kafka broker running at {k.bootstrap} (data {k.data_dir}, log {k.log_file})")
        elif a.action == "stop":
            k.stop()
            print("stopped")
        else:
            print("running" if k.running() else "not running")
            return 0 if k.running() else 1
    except KafkaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
