"""Command line: parse arguments, load the config, run a command, map errors to exit codes.

The only module that prints. Exit codes: 0 all went well; 1 the pass completed but
something failed; 2 usage or configuration error (nothing was done); 3 fatal
(storage unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from monitor import __version__, config, launch
from monitor.config import Settings
from monitor.errors import ConfigError, NewsMonitorError, StorageError
from monitor.logs import setup_logging
from monitor.store import Store

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_FATAL = 0, 1, 2, 3


def utc_now() -> datetime:
    return datetime.now(UTC)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="news-monitor",
        description="Watch news sources; send each subscriber a digest of matching stories.",
    )
    parser.add_argument("--version", action="version", version=f"news-monitor {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $NEWS_MONITOR_CONFIG, else config/monitor.toml)",
    )
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    loudness.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", help="run as a daemon: poll, send digests, retry deliveries")
    once = commands.add_parser(
        "once", help="one pass: poll due sources, send due digests, drain the outbox, exit"
    )
    once.add_argument("--all", action="store_true", help="poll every source, due or not")
    check = commands.add_parser("check", help="validate the config")
    check.add_argument(
        "--online", action="store_true", help="also fetch each source once (stores nothing)"
    )
    preview = commands.add_parser(
        "preview", help="print the next digest of a subscriber without sending or marking it"
    )
    preview.add_argument("subscriber")
    form = preview.add_mutually_exclusive_group()
    form.add_argument("--html", metavar="FILE", help="write the HTML version to FILE")
    form.add_argument("--json", action="store_true", help="print the webhook JSON")
    test_channel = commands.add_parser(
        "test-channel", help="send a short test message through one channel"
    )
    test_channel.add_argument("channel")
    sources = commands.add_parser(
        "sources", help="table of sources: last poll, status, items, failures, next poll"
    )
    source_actions = sources.add_subparsers(dest="sources_action", metavar="ACTION")
    source_actions.add_parser("list", help="the table (the default)")
    importer = source_actions.add_parser("import", help="add the feeds of an OPML file")
    importer.add_argument("opml", help="an OPML file exported from a feed reader")
    source_actions.add_parser("export", help="print the configured sources as OPML")
    explain = commands.add_parser(
        "explain", help="does a watch match a text, which terms, where, and which clause failed"
    )
    explain.add_argument("watch", help="a watch name from the config")
    given = explain.add_mutually_exclusive_group(required=True)
    given.add_argument("--text", help="the text to test (first line is taken as the title)")
    given.add_argument("--file", help="a file holding the text (first line is the title)")
    given.add_argument("--url", help="a page to fetch; its article text is tested")
    explain.add_argument("--language", help="the text's language (en, es, ...), if known")
    backtest = commands.add_parser(
        "backtest", help="run a watch or a query over stored items: what would it have alerted?"
    )
    backtest.add_argument("watch", nargs="?", help="a watch name from the config")
    backtest.add_argument("--query", help="a query to try instead of a configured watch")
    backtest.add_argument(
        "--languages", default="", help="with --query: comma-separated languages (en,es)"
    )
    backtest.add_argument("--since", default="30d", help="how far back (default 30d)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    path = config.config_path(args.config, os.environ)
    try:
        settings = config.load(path)
    except ConfigError as exc:
        setup_logging(0, args.log_format)
        print(f"news-monitor: configuration error:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    verbosity = 1 if args.verbose else -1 if args.quiet else 0
    setup_logging(verbosity, args.log_format, settings.secrets())
    command: Callable[[Settings, argparse.Namespace], int] = COMMANDS[args.command]
    launch.started()
    try:
        return command(settings, args)
    except StorageError as exc:
        print(f"news-monitor: storage error: {exc}", file=sys.stderr)
        return EXIT_FATAL
    except ConfigError as exc:
        print(f"news-monitor: configuration error:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    except NewsMonitorError as exc:
        print(f"news-monitor: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def open_store(settings: Settings) -> Store:
    store: Store = Store.open(settings.storage.url, worker_id())
    return store


def cmd_once(settings: Settings, args: argparse.Namespace) -> int:
    from monitor.passes import run_once
    from monitor.workers import ParseWorkers

    workers = ParseWorkers.start(settings)  # forked first: before the database, any thread
    store: Store | None = None
    bar = ProgressBar(sys.stderr) if args.all and sys.stderr.isatty() else None
    try:
        store = open_store(settings)
        summary = asyncio.run(
            run_once(settings, store, utc_now, all_sources=args.all, progress=bar, workers=workers)
        )
    finally:
        if workers is not None:
            workers.close()
        if store is not None:
            store.close()
        if bar is not None:
            bar.close()
    return EXIT_OK if summary.ok else EXIT_FAILED


class ProgressBar:
    """``polling [#######.............] 37/200`` redrawn in place on a terminal.

    Ten lines of code do not justify a dependency (tqdm, rich); without a terminal the
    CLI prints nothing extra and the per-source log lines tell the same story.
    """

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self._stream, self._width, self._drawn = stream, width, False

    def __call__(self, done: int, total: int) -> None:
        filled = self._width * done // max(total, 1)
        bar = "#" * filled + "." * (self._width - filled)
        self._stream.write(f"\rpolling [{bar}] {done}/{total}")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from monitor.scheduler import Daemon

    store = open_store(settings)
    try:
        return asyncio.run(Daemon(settings, store, utc_now).run())
    finally:
        store.close()


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    print(
        f"{settings.path}: OK — {len(settings.sources)} sources, {len(settings.watches)} watches, "
        f"{len(settings.channels)} channels, {len(settings.subscribers)} subscribers"
    )
    for sub in settings.subscribers:
        print(
            f"  subscriber {sub.name}: {sub.parsed_schedule}, watches {', '.join(sub.watches)}; "
            f"channels {', '.join(sub.channels)}"
        )
    if not args.online:
        return EXIT_OK
    from monitor.check import check_sources_online

    rows = asyncio.run(check_sources_online(settings))
    print_table(("source", "status", "items", "detail"), rows)
    return EXIT_OK if all(r[1] == "ok" for r in rows) else EXIT_FAILED


def cmd_sources(settings: Settings, args: argparse.Namespace) -> int:
    action = getattr(args, "sources_action", None) or "list"
    if action == "export":
        from monitor.opml import export_opml

        print(export_opml(settings), end="")
        return EXIT_OK
    if action == "import":
        from monitor.opml import import_opml

        added = import_opml(settings, Path(args.opml))
        for name, url in added:
            print(f"added source {name}: {url}")
        print(f"{len(added)} sources added to {settings.path}")
        return EXIT_OK
    store = open_store(settings)
    try:
        states = store.source_states()
        counts = store.delivery_counts()
        failed = store.failed_deliveries(limit=5)
    finally:
        store.close()
    rows = []
    for source in settings.sources:
        state = states.get(source.name)
        if state is None:
            rows.append((source.name, "never", "new", "0", "0", "now"))
            continue
        rows.append(
            (
                source.name,
                _when(state.last_polled_at),
                state.last_status or "-",
                str(state.total_items),
                str(state.consecutive_failures),
                _when(state.next_poll_at),
            )
        )
    print_table(("source", "last poll", "status", "items", "failures", "next poll"), rows)
    for source in settings.sources:
        state = states.get(source.name)
        if state is not None and state.last_error:
            print(f"  {source.name}: {state.last_error}")
        if state is not None and state.moved_to:
            print(f"  {source.name}: moved permanently to {state.moved_to}; update its url")
    print(
        f"deliveries: {counts.get('pending', 0)} queued, {counts.get('sent', 0)} sent, "
        f"{counts.get('failed', 0)} given up"
    )
    for digest_id, channel, error, when in failed:
        print(f"  given up {_when(when)}: digest {digest_id} via {channel}: {error}")
    return EXIT_OK


def cmd_preview(settings: Settings, args: argparse.Namespace) -> int:
    from monitor.digest import build_payload
    from monitor.render import render_digest

    sub = next((s for s in settings.subscribers if s.name == args.subscriber), None)
    if sub is None:
        raise ConfigError(f"{settings.path}: subscribers: no subscriber named {args.subscriber!r}")
    store = open_store(settings)
    try:
        pending, total = store.pending_alerts(sub.name, sub.max_items)
    finally:
        store.close()
    now = utc_now()
    payload = build_payload("preview", sub.name, now, pending, total - len(pending))
    if args.json:
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return EXIT_OK
    rendered = render_digest(payload, sub.zone)
    if args.html:
        Path(args.html).write_text(rendered.html, encoding="utf-8")
        print(f"wrote {args.html} ({len(payload['items'])} items)")
        return EXIT_OK
    print(f"Subject: {rendered.subject}\n")
    print(rendered.text)
    return EXIT_OK


def cmd_test_channel(settings: Settings, args: argparse.Namespace) -> int:
    from monitor.check import send_test_message

    if args.channel not in {c.name for c in settings.channels}:
        raise ConfigError(f"{settings.path}: channels: no channel named {args.channel!r}")
    error = asyncio.run(send_test_message(settings, args.channel, utc_now()))
    if error:
        print(f"news-monitor: test message through {args.channel} failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"test message sent through {args.channel}")
    return EXIT_OK


def cmd_explain(settings: Settings, args: argparse.Namespace) -> int:
    from monitor.query import Document, explain, format_explanation
    from monitor.tuning import document_from_url, watch_for

    if args.watch not in {w.name for w in settings.watches}:
        raise ConfigError(f"{settings.path}: watches: no watch named {args.watch!r}")
    watch = watch_for(settings, args.watch, None)
    if args.url:
        doc = asyncio.run(document_from_url(settings, args.url))
    else:
        text = args.text if args.text is not None else Path(args.file).read_text(encoding="utf-8")
        title, _, body = text.strip().partition("\n")
        doc = Document(title=title.strip(), body=body.strip(), language=None)
    if args.language:
        doc = Document(title=doc.title, body=doc.body, language=args.language)
    result = explain(watch, doc)
    print(format_explanation(result))
    return EXIT_OK if result.matched else EXIT_FAILED


def cmd_backtest(settings: Settings, args: argparse.Namespace) -> int:
    from monitor.query import QuerySyntaxError
    from monitor.schedule import parse_duration
    from monitor.tuning import backtest, watch_for

    if args.query is None and args.watch not in {w.name for w in settings.watches}:
        raise ConfigError(f"{settings.path}: watches: no watch named {args.watch!r}")
    try:
        since = utc_now() - parse_duration(args.since)
        languages = tuple(x.strip() for x in args.languages.split(",") if x.strip())
        watch = watch_for(settings, args.watch, args.query, languages)
    except (ValueError, QuerySyntaxError) as exc:
        print(f"news-monitor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    store = open_store(settings)
    seen = hits = 0
    try:
        for hit in backtest(store, watch, since):
            seen += 1
            if hit is None:
                continue
            hits += 1
            when = hit.item.published_at or hit.item.first_seen_at
            terms = ", ".join(hit.match.matched_terms)
            print(f"{_when(when)}  {hit.item.source}  {hit.item.title}  [{terms}]")
            if hit.item.url:
                print(f"    {hit.item.url}")
    finally:
        store.close()
    print(f"{hits} of {seen} stored items since {_when(since)} match", file=sys.stderr)
    return EXIT_OK


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "run": cmd_run,
    "once": cmd_once,
    "check": cmd_check,
    "sources": cmd_sources,
    "preview": cmd_preview,
    "test-channel": cmd_test_channel,
    "explain": cmd_explain,
    "backtest": cmd_backtest,
}


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
