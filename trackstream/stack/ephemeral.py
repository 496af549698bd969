"""Throw-away stacks (tests, the benchmark): free ports on 127.0.0.1, and the removal of all their
data when they are done."""

from __future__ import annotations

import random
import shutil
import socket
from pathlib import Path

from trackstream.stack.local import postgres_dir
from trackstream.stack.postgres import remove_cluster


def _ephemeral_low(default: int = 32768) -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(pair: bool = False) -> int:
    """A free TCP port on 127.0.0.1 (and the next one too when ``pair``: Kafka's controller).

    Chosen below the kernel's ephemeral range: a port from that range (what binding to port 0
    gives) can be taken by any outgoing connection before the server that was meant to get it
    binds it, and the stacks of the tests open hundreds of connections while they start."""
    low = max(2048, _ephemeral_low())
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randrange(max(1024, low // 2), low - 1)
        if _bindable(port) and (not pair or _bindable(port + 1)):
            return port
    raise RuntimeError("no free port" + (" pair" if pair else ""))


def remove_stack_data(data_dir: Path) -> None:
    """Delete a stopped stack's data folder and, when trackstream runs as root, the PostgreSQL
    cluster it keeps outside it (``trackstream.stack.postgres``), so nothing is left behind."""
    remove_cluster(postgres_dir(data_dir))
    shutil.rmtree(data_dir, ignore_errors=True)


def stack_env(data_dir: Path) -> dict[str, str]:
    """TRACKSTREAM_* settings for a stack of its own in ``data_dir``, on free ports."""
    kafka = free_port(pair=True)
    return {
        "TRACKSTREAM_DATA_DIR": str(data_dir),
        "TRACKSTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka}",
        "TRACKSTREAM_DATABASE_URL": f"postgresql://trackstream@127.0.0.1:{free_port()}/trackstream",
        "TRACKSTREAM_HTTP_PORT": str(free_port()),
        "TRACKSTREAM_PARTITIONS": "4",
        "TRACKSTREAM_FAST_REBALANCE": "1",
        "TRACKSTREAM_SENDCLOUD_SECRET": "be7e2f9eb99716d4698bbe8220eea46f",
        "TRACKSTREAM_POSTNL_WEBHOOK_TOKEN": "test-postnl-token",
        "TRACKSTREAM_MYPARCEL_API_KEY": "test-myparcel-key",
        "TRACKSTREAM_UPS_WEBHOOK_CREDENTIAL": "test-ups-credential",
        "TRACKSTREAM_UPS_WEBHOOK_CLIENT_ID": "test-ups-client",
        "TRACKSTREAM_UPS_WEBHOOK_CLIENT_SECRET": "test-ups-client-secret-0123456789",
        "TRACKSTREAM_DPD_PUSH_TOKEN": "test-dpd-push-token",
        "TRACKSTREAM_FEDEX_WEBHOOK_TOKEN": "test-fedex-security-token",
        "TRACKSTREAM_DHL_PARCEL_NL_WEBHOOK_TOKEN": "test-dhl-parcel-nl-key",
        # loopback only, and loopback is the only trusted proxy: a request that says (in
        # X-Forwarded-For) it comes from elsewhere is refused, which the tests use
        "TRACKSTREAM_DPD_PUSH_ALLOW": "127.0.0.0/8,::1/128",
        "TRACKSTREAM_FEDEX_WEBHOOK_ALLOW": "127.0.0.0/8,::1/128",
        "TRACKSTREAM_TRUSTED_PROXIES": "127.0.0.1/32,::1/128",
        "TRACKSTREAM_WORKER_HEARTBEAT_SECONDS": "1",
        "TRACKSTREAM_MAX_BODY_BYTES": "262144",
        "TRACKSTREAM_LOG_LEVEL": "info",
    }
