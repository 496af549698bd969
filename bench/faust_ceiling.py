"""Faust's own ceiling on this machine: an agent that does nothing but count raw messages.

Run by ``trackstream bench`` as ``python -m bench.faust_ceiling BOOTSTRAP TOPIC COUNT DATADIR``
against a topic already holding ``COUNT`` messages; prints ``<messages/s>`` measured from the first
message consumed to the last (group join excluded) and exits.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import faust
from faust.types import StreamT

from trackstream.eventloop import install as install_event_loop


def main() -> None:
    bootstrap, topic_name, count_text, datadir = sys.argv[1:5]
    install_event_loop(os.environ.get("TRACKSTREAM_EVENT_LOOP") or "uvloop")  # the worker's loop
    count = int(count_text)
    app = faust.App(
        f"bench-ceiling-{topic_name}", broker=f"kafka://{bootstrap}", store="memory://", datadir=datadir,
        web_enabled=False, autodiscover=False, topic_disable_leader=True, consumer_auto_offset_reset="earliest",
        key_serializer="raw", value_serializer="raw", broker_session_timeout=6.0, broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=10.0,
    )
    topic = app.topic(topic_name, value_type=bytes, internal=False)
    seen = 0
    started = 0.0

    async def count_only(stream: StreamT[bytes]) -> None:
        nonlocal seen, started
        async for _ in stream:
            if seen == 0:
                started = time.perf_counter()
            seen += 1
            if seen == count:
                print(f"{count / (time.perf_counter() - started):.0f}", flush=True)
                os._exit(0)  # a measuring subprocess: no orderly Faust shutdown needed

    app.agent(topic, name="count_only")(count_only)
    for name in ("faust", "aiokafka", "mode"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from faust.worker import Worker

    worker = Worker(app, loglevel="error", quiet=True, redirect_stdouts=False)
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
