"""Ports for throw-away stacks come from below the kernel's ephemeral range, so no outgoing
connection can take one between choosing it and binding it."""

from __future__ import annotations

import socket
from pathlib import Path

from trackstream.stack.ephemeral import free_port


def ephemeral_low() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_free_ports_are_below_the_ephemeral_range_and_bindable() -> None:
    low = ephemeral_low()
    ports = [free_port() for _ in range(20)]
    assert all(1024 <= p < low for p in ports)
    for port in ports[:5]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_pair_is_two_free_neighbours() -> None:
    port = free_port(pair=True)
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", port))
        b.bind(("127.0.0.1", port + 1))


def test_a_taken_port_is_never_handed_out() -> None:
    taken = []
    try:
        for _ in range(50):
            s = socket.socket()
            port = free_port()
            s.bind(("127.0.0.1", port))  # would raise if free_port returned a taken one
            s.listen()
            taken.append(s)
    finally:
        for s in taken:
            s.close()
