"""``trackstream import <carrier> <file or folder>...``: file feeds straight into the raw topics.

Policy: every file is checked completely before anything is sent. An invalid line, row or file is
reported as ``<file>:<line>: <field>: <problem>`` and, by default, nothing at all is sent (exit 1).
With ``--skip-invalid`` the files are read once: valid lines are sent, invalid ones are reported
and counted (exit 1 as well, so a scheduled import still shows its failures). A folder imports its
files with a known extension (or matching ``--glob``), sorted by name, hidden files skipped.

Exit status: 0 everything sent; 1 invalid input (see above); 2 usage (unknown carrier, missing
file, unknown format, bad settings); 3 the broker is unreachable or did not acknowledge: the
summary says what was acknowledged, and importing the same files again is safe (event ids are
deterministic, the pipeline absorbs duplicates).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from trackstream.feeds.formats import (
    EXTENSIONS,
    FeedUsageError,
    Format,
    Target,
    check_carrier_name,
    format_of_path,
    resolve_target,
)
from trackstream.feeds.progress import ProgressBar
from trackstream.feeds.read import FeedStats, FileProblem, Limits, MessageBuilder, read_records
from trackstream.settings import Settings

if TYPE_CHECKING:
    from trackstream.feeds.send import Sender

PROG = "trackstream import"
EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_BROKER = 0, 1, 2, 3


@dataclass(frozen=True)
class FeedFile:
    path: Path
    fmt: Format
    target: Target
    size: int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("carrier", help="carrier whose feed this is; 'native' for native items naming "
                                        "their carrier; any other name for an own carrier (CSV, native)")
    parser.add_argument("paths", nargs="+", metavar="file or folder")
    parser.add_argument("--format", choices=[f.value for f in Format], default=None,
                        help="read every file as this format (default: by extension: .json/.xml batch, "
                             ".jsonl/.ndjson JSON lines, .csv CSV)")
    parser.add_argument("--glob", default=None, help="in folders, import the files matching this pattern "
                                                     "(default: every file with a known extension)")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="send the valid lines and report the invalid ones (default: send nothing "
                             "when anything is invalid)")
    parser.add_argument("--dry-run", action="store_true", help="check everything, send nothing")
    parser.add_argument("--max-errors", type=int, default=50, help="invalid lines listed in detail (default 50)")


def collect(carrier: str, paths: list[str], forced: Format | None, glob: str | None,
            configured: tuple[str, ...] = ()) -> list[FeedFile]:
    """The files to import, in order; ``FeedUsageError`` for anything that cannot be imported.
    ``configured``: carriers defined by a file (``Settings.configured_carriers``)."""
    check_carrier_name(carrier, configured)
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            children = sorted((c for c in path.iterdir() if not c.name.startswith(".") and c.is_file()),
                              key=lambda c: c.name)
            chosen = [c for c in children if (fnmatch(c.name, glob) if glob else format_of_path(c))]
            if not chosen:
                wanted = repr(glob) if glob else "with extension " + "/".join(sorted(EXTENSIONS))
                raise FeedUsageError(f"{given}: no files {wanted}")
            found.extend(chosen)
        elif path.is_file():
            found.append(path)
        else:
            raise FeedUsageError(f"{given}: no such file or folder")
    files: list[FeedFile] = []
    for path in found:
        fmt = forced or format_of_path(path)
        if fmt is None:
            raise FeedUsageError(f"{path}: cannot tell the format from the extension; use --format "
                                 + "|".join(f.value for f in Format))
        files.append(FeedFile(path, fmt, resolve_target(carrier, fmt, configured), path.stat().st_size))
    return files


def _describe(exc: BaseException) -> str:
    name, text = type(exc).__name__, str(exc)
    if not text:
        return name
    return text if text.startswith(name) else f"{name}: {text}"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


class Import:
    def __init__(self, settings: Settings, files: list[FeedFile], *, skip_invalid: bool, dry_run: bool,
                 max_errors: int, err: TextIO, out: TextIO) -> None:
        self.settings = settings
        self.files = files
        self.skip_invalid = skip_invalid
        self.dry_run = dry_run
        self.max_errors = max(0, max_errors)
        self.err = err
        self.out = out
        self.limits = Limits(settings.max_body_bytes, settings.max_feed_bytes)
        self.started = time.perf_counter()
        self.sender: Sender | None = None
        self.current: Path | None = None

    def _say(self, text: str) -> None:
        print(f"{PROG}: {text}", file=self.err)

    async def _pass(self, label: str, stats: FeedStats, sender: Sender | None, partitions: dict[str, int]) -> None:
        bar = ProgressBar(self.err, sum(f.size for f in self.files), label)
        base = 0
        try:
            for feed in self.files:
                self.current = feed.path
                with feed.path.open("rb") as handle:
                    builder = (MessageBuilder(feed.target, partitions[feed.target.topic], feed.path.name, self.limits)
                               if sender is not None else None)
                    records = read_records(handle, feed.fmt, feed.target, self.limits, stats, str(feed.path),
                                           xml_hint=feed.path.suffix.lower() == ".xml")
                    try:
                        for count, record in enumerate(records):
                            if builder is not None and sender is not None:
                                for message in builder.add(record):
                                    await sender.send(message)
                            if count % 512 == 0:
                                bar.update(base + handle.tell(), stats.records + stats.invalid)
                                await asyncio.sleep(0)
                    except FileProblem as exc:  # the rows before it were valid: they are sent below
                        stats.add(str(feed.path), exc.problem)
                    finally:
                        records.close()
                if builder is not None and sender is not None:
                    for message in builder.flush():
                        await sender.send(message)
                base += feed.size
                bar.update(base, stats.records + stats.invalid, force=True)
        finally:
            bar.close()

    def _report_problems(self, stats: FeedStats) -> None:
        for name, problem in stats.problems[: self.max_errors]:
            if problem.line is not None:
                self._say(f"{name}:{problem.line}: {problem.detail()}")
            else:
                self._say(f"{name}: {problem.text()}")
        if stats.invalid > min(self.max_errors, len(stats.problems)):
            self._say(f"... and {stats.invalid - min(self.max_errors, len(stats.problems)):,} more")

    def _summary(self, verb: str, stats: FeedStats, sender: Sender | None, tail: str = "") -> None:
        seconds = time.perf_counter() - self.started
        if sender is None:
            sent = f"{_plural(stats.payloads, 'payload')} and {_plural(stats.events, 'event')} valid"
        else:
            sent = (f"{_plural(sender.acked_payloads, 'payload')} and {_plural(sender.acked_events, 'event')} "
                    f"sent in {_plural(sender.acked, 'message')}")
        rate = (stats.records + stats.invalid) / seconds if seconds > 0 else 0.0
        print(f"{verb} {_plural(len(self.files), 'file')}: {sent}, {stats.invalid:,} invalid, "
              f"{seconds:.1f} s ({rate:,.0f} rows/s){tail}", file=self.out, flush=True)

    async def run(self) -> int:
        if not self.skip_invalid or self.dry_run:
            checked = FeedStats(keep=self.max_errors)
            await self._pass("checking", checked, None, {})
            if checked.invalid:
                self._report_problems(checked)
                self._say(f"{_plural(checked.invalid, 'problem')}; nothing was sent (fix them, or use "
                          "--skip-invalid to send the valid ones)")
                self._summary("checked", checked, None, "; nothing sent")
                return EXIT_INVALID
            if self.dry_run:
                self._summary("checked", checked, None, "; nothing sent (--dry-run)")
                return EXIT_OK
        return await self._send()

    async def _send(self) -> int:
        from trackstream.feeds.send import Sender, SendFailed, make_producer, partitions_of

        producer = make_producer(self.settings.kafka_bootstrap, self.settings.max_body_bytes)
        stats = FeedStats(keep=self.max_errors)
        self.sender = sender = Sender(producer)
        try:
            try:
                await asyncio.wait_for(producer.start(), 30)
            except (Exception, TimeoutError) as exc:  # aiokafka raises several types here
                self._say(f"cannot reach Kafka at {self.settings.kafka_bootstrap} ({_describe(exc)}); "
                          "nothing was sent")
                return EXIT_BROKER
            try:
                topics = sorted({f.target.topic for f in self.files})
                partitions = {topic: await partitions_of(producer, topic) for topic in topics}
                await self._pass("sending", stats, sender, partitions)
                await sender.drain()
            except SendFailed as exc:
                self._report_problems(stats)
                self._say(f"{exc}; stopped in {self.current}. What the summary counts was acknowledged, the "
                          "rest was not sent; importing the same files again is safe (duplicates are absorbed).")
                self._summary("partly imported", stats, sender)
                return EXIT_BROKER
        finally:
            await producer.stop()
        if stats.invalid:
            self._report_problems(stats)
            if self.skip_invalid:
                self._say(f"{_plural(stats.invalid, 'problem')} skipped (not sent); the valid lines were sent")
            else:
                self._say(f"{_plural(stats.invalid, 'problem')} appeared while sending (a file changed "
                          "after it was checked); the valid lines were sent, these were not")
            self._summary("imported", stats, sender)
            return EXIT_INVALID
        self._summary("imported", stats, sender)
        return EXIT_OK


def run(args: argparse.Namespace, settings: Settings, err: TextIO | None = None, out: TextIO | None = None) -> int:
    err = err or sys.stderr
    out = out or sys.stdout
    try:
        files = collect(args.carrier, args.paths, Format(args.format) if args.format else None, args.glob,
                        settings.configured_carriers)
    except FeedUsageError as exc:
        print(f"{PROG}: {exc}", file=err)
        return EXIT_USAGE
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its failures are reported here, once
    job = Import(settings, files, skip_invalid=args.skip_invalid, dry_run=args.dry_run,
                 max_errors=args.max_errors, err=err, out=out)
    try:
        return asyncio.run(job.run())
    except KeyboardInterrupt:
        sender = job.sender
        acked = (f"{_plural(sender.acked, 'message')} ({_plural(sender.acked_payloads, 'payload')}, "
                 f"{_plural(sender.acked_events, 'event')})" if sender is not None else "nothing")
        print(f"\n{PROG}: interrupted{f' in {job.current}' if job.current else ''}; {acked} had been "
              "acknowledged, the rest was not sent (importing again is safe)", file=err)
        return 130
