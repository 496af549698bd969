"""A real Apache Kafka broker (KRaft, single node) on 127.0.0.1, from the official Maven jars.

The jars are resolved once per machine by Maven (``kafka-pom.xml``) into
``$XDG_CACHE_HOME/trackstream/kafka-<version>/lib``; the log lives in the data folder and survives
restarts (the storage is formatted only when it is new).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from importlib import resources
from pathlib import Path

from trackstream.stack.process import ManagedProcess, port_open, wait_for

KAFKA_VERSION = "4.1.1"

LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = warn
logger.server.name = org.apache.kafka
logger.server.level = warn
"""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trackstream" / f"kafka-{KAFKA_VERSION}"


def ensure_jars() -> Path:
    """Resolve the broker's jars with Maven once; returns the lib folder."""
    target = cache_dir()
    lib = target / "lib"
    marker = target / ".complete"
    if marker.exists():
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Maven (mvn) is needed to fetch Apache Kafka; install it (apt-get install maven)")
    target.mkdir(parents=True, exist_ok=True)
    pom = target / "pom.xml"
    pom.write_text(resources.files("trackstream.stack").joinpath("kafka-pom.xml").read_text())
    tmp_lib = target / "lib.partial"
    shutil.rmtree(tmp_lib, ignore_errors=True)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
         f"-DoutputDirectory={tmp_lib}", "-DincludeScope=runtime"],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"Maven could not fetch Kafka {KAFKA_VERSION}:\n{result.stdout[-3000:]}")
    shutil.rmtree(lib, ignore_errors=True)
    tmp_lib.rename(lib)
    marker.write_text(KAFKA_VERSION)
    return lib


class KafkaBroker:
    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1",
                 partitions: int = 8, heap: str = "512m") -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.controller_port = port + 1
        self.partitions = partitions
        self.heap = heap
        self.process: ManagedProcess | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def _write_config(self) -> Path:
        logs = self.data_dir / "log"
        logs.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "server.properties"
        config.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{self.host}:{self.controller_port}",
            f"listeners=PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={logs}",
            f"num.partitions={self.partitions}",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=8",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "log.retention.hours=168",
            "",
        ]))
        (self.data_dir / "log4j2.properties").write_text(
            LOG4J2.format(log=self.data_dir / "broker-internal.log")
        )
        return config

    def start(self, timeout: float = 90.0) -> None:
        if port_open(self.host, self.port):
            raise RuntimeError(f"port {self.port} is already in use: is another Kafka running?")
        lib = ensure_jars()
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("Java 17+ is needed to run Kafka")
        config = self._write_config()
        classpath = f"{lib}/*"
        jvm = [java, f"-Xmx{self.heap}", "-Xms128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}", "-cp", classpath]
        if not (self.data_dir / "log" / "meta.properties").exists():
            result = subprocess.run(
                # "--cluster-id=<id>": an id may start with "-", which a separate argument would
                # make look like an option
                [*jvm, "kafka.tools.StorageTool", "format", f"--cluster-id={_cluster_id()}", "-c", str(config)],
                capture_output=True, text=True, check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(f"formatting Kafka storage failed:\n{result.stdout}\n{result.stderr}")
        self.process = ManagedProcess("kafka", [*jvm, "kafka.Kafka", str(config)],
                                      self.data_dir / "broker.log")
        self.process.start()
        process = self.process

        def ready() -> bool:
            if not process.alive():
                raise RuntimeError(f"Kafka exited during start:\n{process.tail()}")
            return port_open(self.host, self.port)

        wait_for(ready, timeout, "the Kafka broker")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=30)


def _cluster_id() -> str:
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
