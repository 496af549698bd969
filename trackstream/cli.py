"""The ``trackstream`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson

from carriers import base
from trackstream.eventloop import install as install_event_loop
from trackstream.settings import DOCUMENTED, Settings, SettingsError, load_carrier_definitions

QUIET_LOGGERS = ("faust", "aiokafka", "mode", "kafka", "rocksdict")
#: ``trackstream normalize``: the parser crashed (a bug in trackstream, not in the file; sysexits'
#: EX_SOFTWARE). 1 is a payload the parser refused, 2 a usage problem.
EXIT_INTERNAL_ERROR = 70


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


#: The header pollers set to name the number they asked for (carriers that do not echo it), as
#: the normalizer hands it to a parser: lower-cased.
TRACKING_NUMBER_HEADER = base.TRACKING_NUMBER_HEADER.lower()


def _normalize_headers(pairs: list[str], tracking_number: str | None) -> dict[str, str]:
    """``NAME=VALUE`` pairs (and ``--tracking-number``) → the headers a raw record would carry,
    names lower-cased as the normalizer hands them to a parser."""
    headers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--header {pair!r}: expected NAME=VALUE")
        headers[name.strip().lower()] = value
    if tracking_number is not None:
        if not tracking_number.strip():
            raise ValueError("--tracking-number: empty")
        headers[TRACKING_NUMBER_HEADER] = tracking_number.strip()
    return headers


def _normalize_epilog() -> str:
    """Which headers each built-in carrier's parser reads (from the adapters' ``HEADERS``)."""
    import carriers

    lines = ["headers the parsers read (--header NAME=VALUE; --tracking-number N sets "
             "X-Trackstream-Tracking-Number):"]
    for name in carriers.ADAPTERS:
        for use in carriers.headers_of(name):
            need = "required" if use.required else "optional"
            origin = "sent by the carrier" if use.from_request else "set by trackstream"
            lines.append(f"  {name:<14} {use.name} ({need}, {origin}): {use.meaning}")
    return "\n".join(lines)


class _NormalizeHelp(argparse.Action):
    """``normalize --help``: the epilog lists every adapter's headers, which means importing every
    adapter, so it is built only when the help is asked for, not at every command's start."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        parser.epilog = _normalize_epilog()
        parser.print_help()
        parser.exit()


def cmd_normalize(args: argparse.Namespace) -> int:
    import carriers
    from carriers.base import ParseError
    from schemas.events import format_utc_seconds
    from trackstream import crash

    try:  # carriers defined by a file count too (only this setting is read: normalize needs no stack)
        carriers.use_definitions(load_carrier_definitions(os.environ).values())
    except SettingsError as exc:
        print(f"trackstream normalize: {exc}", file=sys.stderr)
        return 2
    parser = carriers.get_parser(args.carrier)
    if parser is None:
        known = ", ".join(sorted({*carriers.KNOWN_CARRIERS, *carriers.configured_carriers()}))
        print(f"trackstream normalize: unknown carrier {args.carrier!r} (known: {known})", file=sys.stderr)
        return 2
    try:
        payload = Path(args.file).read_bytes() if args.file != "-" else sys.stdin.buffer.read()
    except OSError as exc:
        print(f"trackstream normalize: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        headers = _normalize_headers(args.header or [], args.tracking_number)
    except ValueError as exc:
        print(f"trackstream normalize: {exc}", file=sys.stderr)
        return 2
    from schemas.raw import EnvelopeError, is_packed, unpack

    try:  # a packed raw record (as read from a raw topic): each payload with its own headers
        inputs = ([(f"{args.file} item {i}", it.payload, {**it.headers, **headers})
                   for i, it in enumerate(unpack(payload))] if is_packed(payload) else [(args.file, payload, headers)])
    except EnvelopeError as exc:
        print(f"trackstream normalize: {args.file}: {exc}", file=sys.stderr)
        return 1
    failed = False
    crashed = False
    out = sys.stdout.buffer
    for label, body, item_headers in inputs:
        try:
            events = parser(body, item_headers, datetime.now(UTC))
        except ParseError as exc:
            failed = True
            print(f"trackstream normalize: {label}: {exc}", file=sys.stderr)
            for use in carriers.headers_of(args.carrier):
                if use.required and use.name.lower() not in item_headers:
                    named = use.name.lower() == TRACKING_NUMBER_HEADER
                    how = "--tracking-number N" if named else f"--header {use.name}=..."
                    print(f"trackstream normalize: {args.carrier} needs {use.name} ({use.meaning}): pass {how}",
                          file=sys.stderr)
            continue
        except Exception as exc:  # a bug in the parser, not the file's fault: say so, with where it happened
            crashed = True
            print(f"trackstream normalize: {label}: {crash.summary(args.carrier, exc)}\n{crash.safe_traceback(exc)}",
                  file=sys.stderr, end="")
            continue
        try:
            for event in events:
                line = event.to_dict()
                line["occurred_at"] = format_utc_seconds(event.occurred_at)
                line["received_at"] = format_utc_seconds(event.received_at)
                out.write(orjson.dumps(line) + b"\n")
            out.flush()
        except BrokenPipeError:  # the reader (head, less) went away: not an error
            sys.stderr.close()
            return 0
    return EXIT_INTERNAL_ERROR if crashed else 1 if failed else 0


def worker_logging(level: str) -> dict[str, object]:
    """The worker's logging: a handler of its own (a ``logging_config`` without one left only
    Python's last-resort handler, so nothing below WARNING reached the log), trackstream at
    ``level``, Faust/aiokafka/mode at WARNING."""
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {n: {"level": "WARNING"} for n in QUIET_LOGGERS},
    }


def cmd_worker(settings: Settings) -> int:
    from faust.worker import Worker

    from agents import gap_guard
    from app import create_app
    from sinks.migrations import migrate
    from trackstream.admin import ensure_topics

    asyncio.run(ensure_topics(settings))
    migrate(settings.database_url)
    (settings.data_dir / "worker" / settings.worker_id).mkdir(parents=True, exist_ok=True)
    install_event_loop(settings.event_loop)
    gap_guard.install()
    app = create_app(settings)
    worker = Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False,
                    logging_config=worker_logging(settings.log_level))
    worker.spinner = None  # a terminal spinner has no place in logs (and breaks at level >= warning)
    worker.execute_from_commandline()
    return 0


def cmd_api(settings: Settings) -> int:
    from api.server import run

    install_event_loop(settings.event_loop)
    run(settings)
    return 0


def cmd_up(settings: Settings) -> int:
    from trackstream.stack.local import up

    return up(settings)


def cmd_poll(settings: Settings, args: argparse.Namespace) -> int:
    """Run the pollers alone (a dedicated deployment, or with ``TRACKSTREAM_POLL_IN_WORKER=0``)."""
    import signal

    from pollers.accounts import AccountsError, load_accounts
    from pollers.clients import CLIENTS
    from pollers.service import PollerService

    path = args.accounts or settings.poll_accounts
    if not path:
        print("trackstream poll: no accounts file (set TRACKSTREAM_POLL_ACCOUNTS or pass --accounts)",
              file=sys.stderr)
        return 2
    try:
        accounts = load_accounts(path)
    except AccountsError as exc:
        print(f"trackstream poll: {exc}", file=sys.stderr)
        return 2
    if args.check:
        for account in accounts:
            client = CLIENTS[account.carrier]
            rate = client.rate_limit(account)
            print(f"{account.name}: {account.carrier} at {client.resolved_base_url(account)}, "
                  f"{rate.requests:g} requests per {rate.per_seconds:g}s, batches of {client.batch_size(account)}")
        return 0
    from sinks.migrations import migrate

    migrate(settings.database_url)
    service = PollerService(accounts, database_url=settings.database_url, kafka_bootstrap=settings.kafka_bootstrap,
                            worker_id=settings.worker_id)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, service.stop)
        await service.run()

    asyncio.run(main())
    return 0


def cmd_migrate(settings: Settings) -> int:
    from sinks.migrations import migrate

    applied = migrate(settings.database_url)
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


def cmd_config() -> int:
    for name, (default, text) in DOCUMENTED.items():
        print(f"{name}={default!r:40} {text}")
    return 0


def cmd_carriers(args: argparse.Namespace) -> int:
    """``trackstream carriers coverage``: documented carrier codes against the code tables."""
    from carriers import coverage

    known = coverage.covered_carriers()
    unknown = [name for name in args.carrier or [] if name not in known]
    if unknown:
        print(f"trackstream carriers coverage: no documented code lists for {', '.join(unknown)} "
              f"(known: {', '.join(known)})", file=sys.stderr)
        return 2
    text, gaps = coverage.report(args.carrier or None)
    print(text)
    if gaps:
        print(f"{len(gaps)} documented code(s) unmapped: {'; '.join(gaps)}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trackstream", description="Multi-carrier shipment tracking on Faust")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start Kafka, PostgreSQL, the worker and the API locally (Ctrl-C stops)")
    sub.add_parser("worker", help="run a Faust worker against TRACKSTREAM_KAFKA_BOOTSTRAP")
    sub.add_parser("api", help="run the HTTP API")
    sub.add_parser("migrate", help="apply database migrations")
    pl = sub.add_parser("poll", help="run the carrier pollers alone (workers run them too)")
    pl.add_argument("--accounts", help="accounts file (default: TRACKSTREAM_POLL_ACCOUNTS)")
    pl.add_argument("--check", action="store_true", help="validate the accounts file, print it and exit")
    sub.add_parser("config", help="list every TRACKSTREAM_* setting with its default")
    n = sub.add_parser("normalize", help="print the normalized events of a carrier payload file as JSON lines",
                       add_help=False, formatter_class=argparse.RawDescriptionHelpFormatter)
    n.add_argument("-h", "--help", action=_NormalizeHelp, help="show this help message and exit")
    n.add_argument("carrier")
    n.add_argument("file", help="payload file, or - for standard input")
    n.add_argument("--header", action="append", metavar="NAME=VALUE",
                   help="a header of the raw record, as a poller or the ingress would pass it (repeatable)")
    n.add_argument("--tracking-number", metavar="N",
                   help="the number a poller asked for (DPD's answer does not carry it)")
    c = sub.add_parser("carriers", help="facts about the built-in carriers")
    carriers_sub = c.add_subparsers(dest="carriers_command", required=True)
    cov = carriers_sub.add_parser(
        "coverage", help="per carrier and code table: documented codes, how many are mapped, which are not "
                         "(exit 1 if any documented code is unmapped)")
    cov.add_argument("--carrier", action="append", metavar="NAME", help="only this carrier (repeatable)")
    k = sub.add_parser("keys", help="API keys: create, list, revoke")
    from trackstream.keys_cli import add_arguments as keys_arguments

    keys_arguments(k)
    i = sub.add_parser("import", help="import carrier payload files, JSON lines or CSV into the raw topics")
    from trackstream.feeds.cli import add_arguments as import_arguments

    import_arguments(i)
    b = sub.add_parser("bench", help="measure the pipeline end to end (starts a local stack)")
    b.add_argument("--events", type=int, default=100_000)
    b.add_argument("--shipments", type=int, default=20_000)
    b.add_argument("--external", action="store_true", help="use the running stack in the settings")
    b.add_argument("--sendcloud", type=float, default=0.3, help="share of shipments pushed by Sendcloud webhooks")
    b.add_argument("--postnl", type=float, default=0.3, help="share of shipments polled from PostNL")
    b.add_argument("--workers", type=int, default=None,
                   help="Faust workers in the consumer group (default: TRACKSTREAM_LOCAL_WORKERS)")
    b.add_argument("--steady", type=float, metavar="RATE",
                   help="steady mode: single-event POST /v1/events at RATE requests/s, open-loop, instead of a backlog")
    b.add_argument("--seconds", type=float, default=30.0, help="steady mode: how long to send (default 30)")
    b.add_argument("--connections", type=int, default=256,
                   help="steady mode: concurrent HTTP connections of the load generator (default 256)")
    b.add_argument("--restart", action="store_true",
                   help="load --shipments active shipments, print worker memory, then SIGKILL and restart a worker"
                        " and print how long until new events flow again")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "normalize":
        return cmd_normalize(args)
    if args.command == "config":
        return cmd_config()
    if args.command == "carriers":
        return cmd_carriers(args)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"trackstream: {exc}", file=sys.stderr)
        return 2
    _logging(settings.log_level)
    if args.command == "up":
        return cmd_up(settings)
    if args.command == "worker":
        return cmd_worker(settings)
    if args.command == "api":
        return cmd_api(settings)
    if args.command == "migrate":
        return cmd_migrate(settings)
    if args.command == "import":
        from trackstream.feeds.cli import run as run_import

        return run_import(args, settings)
    if args.command == "poll":
        return cmd_poll(settings, args)
    if args.command == "keys":
        from trackstream.keys_cli import run as run_keys

        return run_keys(settings, args)
    if args.command == "bench":
        import signal

        # SIGTERM (a timeout, a stop) unwinds like Ctrl-C, so the bench stops the stack it started
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if args.command == "bench" and args.restart:
        from bench.restart import run_restart

        if args.steady is not None or args.external:
            print("trackstream bench: --restart starts its own stack and sends no steady load", file=sys.stderr)
            return 2
        return run_restart(settings, args.shipments, workers=args.workers or settings.local_workers)
    if args.command == "bench" and args.steady is not None:
        from bench.steady import run_steady

        if args.steady <= 0 or args.seconds <= 0 or args.connections < 1:
            print("trackstream bench: --steady, --seconds and --connections must be positive", file=sys.stderr)
            return 2
        return run_steady(settings, args.steady, args.seconds, workers=args.workers or settings.local_workers,
                          external=args.external, connections=args.connections)
    if args.command == "bench":
        from bench.pipeline import run_bench

        return int(run_bench(settings, events=args.events, shipments=args.shipments, external=args.external,
                             mix=(args.sendcloud, args.postnl), workers=args.workers or settings.local_workers))
    return 2


if __name__ == "__main__":
    sys.exit(main())
