"""`crossview` — the command line. Each command builds what it needs from Settings (environment)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from services.application.auth import Role
from services.settings import Settings

EPILOG = """Settings come from the environment: CROSSVIEW_KAFKA_BOOTSTRAP (default 127.0.0.1:9092),
CROSSVIEW_DATABASE_URL (default postgresql://crossview:crossview@127.0.0.1:5432/crossview),
CROSSVIEW_NAMESPACE (topic and schema prefix, default crossview), CROSSVIEW_PARTITIONS (default 6).
Start the real services with `make services`."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="crossview",
        description="Crossview: one live view of every person, across every channel.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run the API on the embedded default (no Kafka, no PostgreSQL) with demo data"
    )
    _http_options(demo)
    demo.add_argument("--empty", action="store_true", help="start without the demo data")

    serve = commands.add_parser(
        "serve", help="run the HTTP API on Kafka and PostgreSQL (run `crossview projector` beside it)"
    )
    _http_options(serve)
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="API processes sharing the port (default 1; one per core serves most): each has its own "
        "pools and producer, one of them relays at a time",
    )
    serve.add_argument(
        "--no-relay",
        action="store_true",
        help="never relay in this process, neither stored events nor audit records: leave it to "
        "`crossview relay` (commands and reads answer all the same; the event loop serves only requests)",
    )

    commands.add_parser(
        "projector",
        help="run the live projector (Kafka -> PostgreSQL read models) until SIGTERM",
        description="Follows the interactions and domain topics as one member of the consumer group\n"
        "<namespace>.person-view and writes person views, timelines and offsets in one PostgreSQL\n"
        "transaction a batch: exactly once, whatever is killed when. To go faster, start one per\n"
        "core with the same settings: the members share the partitions. Logs its progress every\n"
        "10 s; what it cannot apply goes to <namespace>.deadletter (see `crossview dead-letters`).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands.add_parser(
        "relay",
        help="carry stored domain events and kept audit records to Kafka (also runs inside `serve`; "
        "one relays the events at a time, any number the audit records)",
    )
    commands.add_parser(
        "rebuild",
        help="replay the whole log into fresh read-model tables, then switch to them",
        description="Projects every topic from offset 0 into a new generation of the read-model\n"
        "tables while queries and the live projector keep the current one, then, caught up, makes\n"
        "it the active generation: queries switch to it and the live projector follows. Shows its\n"
        "progress; interrupting it leaves the active generation as it was.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export = commands.add_parser(
        "export",
        help="write the log and the read models as Parquet (DuckDB, pandas, Spark read it as it is); incremental",
        description="Writes every event of the log (domain events and interactions) as Parquet under DIR: one\n"
        "table per event family (interaction_sms, person_registered...), the CloudEvents attributes and\n"
        "the data's fields as typed columns, partitioned by day (DIR/interaction_sms/day=2026-11-30/),\n"
        "plus snapshots of people, functions and organisations (DIR/snapshots/) and views.sql. Run it\n"
        "again on the same DIR: it adds only what is new on the log (DIR/_export.json keeps where each\n"
        "partition stopped). Personal fields are pseudonymised with each person's own key: erasing a\n"
        "person makes what was exported of them meaningless for good.\n\n"
        '  crossview sql --in DIR "SELECT type, count(*) FROM interaction_sms GROUP BY type"\n'
        "  cd DIR && duckdb -init views.sql",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("--to", required=True, metavar="DIR", help="the export directory (made if missing)")
    export.add_argument(
        "--since", type=_since, metavar="INSTANT", help="only events at or after this instant (RFC 3339, or a date)"
    )
    export.add_argument(
        "--until", type=_until, metavar="INSTANT", help="only events up to this instant (RFC 3339, or a date: its end)"
    )
    export.add_argument(
        "--types",
        nargs="+",
        metavar="TYPE",
        help="only these event types or families (crossview.interaction.sms.v1, interaction_sms...)",
    )
    export.add_argument("--no-snapshots", action="store_true", help="the log only, no read-model snapshots")
    export.add_argument(
        "--workers",
        type=_workers,
        metavar="N",
        help="processes sharing the log's partitions (default: one per core from 50,000 records to export)",
    )
    sql = commands.add_parser(
        "sql",
        help="run one DuckDB query over an export directory (every table a view) and print the result",
        description="Every table of the export is a view named as its folder (interaction_sms,\n"
        "person_registered, people, functions, organisations...), the day partition a column.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sql.add_argument("statement", help='the query, e.g. "SELECT day, count(*) FROM interaction_email GROUP BY day"')
    sql.add_argument("--in", dest="directory", default="export", metavar="DIR", help="the export (default ./export)")
    sql.add_argument("--csv", action="store_true", help="print CSV (a header line, then the rows) instead of a table")
    replay = commands.add_parser(
        "replay",
        help="fold the log up to an instant into a named read model beside the live one",
        description="Projects every event whose own time is at or before --until (and at or after --from)\n"
        "into a read model of its own, as the log stands when the replay starts, while queries and the\n"
        "live projector keep theirs; queries read it with model=NAME. Shows its progress (events done,\n"
        "rate, time left); killed or interrupted, the same command resumes where it stopped.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("--until", required=True, type=_until, help="an RFC 3339 instant or a date (its end, UTC)")
    replay.add_argument("--into", required=True, type=_model_name, help="the read model's name (a-z, 0-9, _)")
    replay.add_argument("--from", dest="since", type=_since, help="leave out events before this instant")
    replay.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="processes sharing the partitions (default 1; one per core goes fastest)",
    )
    models = commands.add_parser(
        "models",
        help="list the read models replays made, or drop one",
        description="list: each read model `crossview replay` made, its window, and whether it is finished.\n"
        "drop NAME: remove it (its tables go; the name is free again).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    models.add_argument("action", choices=["list", "drop"])
    models.add_argument("name", nargs="?", type=_model_name, help="with drop: which")
    commands.add_parser("topics", help="create the topics (explicit partitions, infinite retention) if missing")
    dead = commands.add_parser(
        "dead-letters",
        help="list what the projector could not apply (and why), or replay it once the cause is fixed",
        description="Dead letters keep the original record, the reason and where it came from. Replaying "
        "sends records back to their origin topic unchanged: applied ones are dropped as duplicates, "
        "ones still wrong are dead-lettered again.",
    )
    dead.add_argument("action", choices=["list", "replay"])
    dead.add_argument(
        "--only",
        action="append",
        metavar="PARTITION:OFFSET",
        help="only the dead letter at this place of the dead-letter topic (repeatable; `list` shows "
        "them); default: every one",
    )
    dead.add_argument("--json", action="store_true", help="list as JSON lines")

    token = commands.add_parser(
        "token",
        help="print a development token (last line) that a server started with the same settings accepts",
        description="Signs a bearer token with CROSSVIEW_AUTH_SIGNING_KEY (unset: the public demo key that\n"
        "`crossview demo` and local trials accept). Send it as `Authorization: Bearer <token>`.\n"
        "With an OIDC provider configured, get tokens from the provider instead.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    token.add_argument(
        "--role",
        action="append",
        required=True,
        choices=[r.value for r in Role],
        help="a role (repeatable); personal-data is a grant: with analyst, personal values in clear",
    )
    token.add_argument("--subject", required=True, help="who the token speaks for (recorded in the audit)")
    token.add_argument("--hours", type=float, default=8, help="lifetime in hours (default 8)")
    api_key = commands.add_parser(
        "api-key",
        help="make an API key for a system that publishes events (adapter role), and its setting",
        description="Prints a new random key (give it to the adapter, which sends it as X-Api-Key) and the\n"
        "entry to add to CROSSVIEW_ADAPTER_KEYS: the server keeps only the key's SHA-256.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    api_key.add_argument("name", help="the adapter's name, e.g. crm-sync (recorded in the audit)")

    keys = commands.add_parser(
        "keys",
        help="the people's data keys: rotate one person's, or rewrap all under a new master key",
        description="rotate PERSON_ID: a new data key seals that person's events from now on (older events\n"
        "keep opening with the older key). rewrap: after moving the old CROSSVIEW_MASTER_KEY to\n"
        "CROSSVIEW_PREVIOUS_MASTER_KEY and setting a new one, wrap every data key under the new one;\n"
        "then unset CROSSVIEW_PREVIOUS_MASTER_KEY.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    keys.add_argument("action", choices=["rotate", "rewrap"])
    keys.add_argument("person_id", nargs="?", help="with rotate: whose key")

    schemas = commands.add_parser("schemas", help="JSON Schemas of the event types: generate, or check compatibility")
    schemas.add_argument(
        "action",
        choices=["generate", "check"],
        help="generate: rewrite schemas/json; check: fail if they drift or break the last release",
    )

    args = parser.parse_args(argv)
    if args.command == "schemas":
        return _schemas(args.action)
    if args.command == "api-key":
        return _api_key(args.name)
    if args.command == "sql":
        return _sql(args)
    try:
        settings = Settings()
    except Exception as error:  # a bad environment value: say which, and stop
        print(f"crossview: invalid settings: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from channels.kafka import BrokerUnavailable
    from projections.postgres_store import DatabaseUnavailable

    try:
        return COMMANDS[args.command](settings, args)
    except BrokerUnavailable as error:
        print(
            f"crossview: {error}.\nStart the services with `make services`, or point CROSSVIEW_KAFKA_BOOTSTRAP "
            "at your broker.",
            file=sys.stderr,
        )
    except DatabaseUnavailable as error:
        print(
            f"crossview: {error}.\nStart the services with `make services`, or set CROSSVIEW_DATABASE_URL.",
            file=sys.stderr,
        )
    return 1


def _http_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from services.application.auth import development_token
    from services.bootstrap import embedded

    url = f"http://{args.host}:{args.port}"
    key = settings.development_signing_key or ""
    tokens = "\n".join(
        f"  {role.value:<9} {development_token(key, f'demo-{role.value}', [role], settings.auth_audience, 86400)}"
        for role in Role
        if role is not Role.PERSONAL_DATA  # a grant given with a role, not a role of its own
    )
    print(
        f"Crossview (embedded default, demo data) on {url}\n"
        f"  API docs:          {url}/docs  (Authorize: paste a token below)\n"
        f"  find Fabien:       {url}/v1/search?q=Bellemare  (then /v1/persons/<person_id>, /history, /timeline)\n"
        f"Development tokens, one per role, valid 24 h, sent as `Authorization: Bearer <token>`\n"
        f"(more: `crossview token --role advisor --subject you`):\n"
        f"{tokens}\n"
        "Press Ctrl+C to stop.",
        flush=True,
    )
    return _serve_app(lambda: embedded(settings, with_demo=not args.empty), args, settings)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from services.bootstrap import check_services, production

    problems = settings.insecure_defaults()
    if problems and not settings.local_trial:
        print("crossview: refusing to start with insecure settings:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print("For a local trial on this machine only, set CROSSVIEW_LOCAL_TRIAL=1.", file=sys.stderr)
        return 2
    for problem in problems:
        logging.getLogger("crossview").warning("LOCAL TRIAL: %s", problem)
    check_services(settings)
    print(f"Crossview API on http://{args.host}:{args.port} (docs at /docs)", flush=True)
    if args.workers > 1:  # each worker process builds the app from the same environment
        if args.no_relay:
            os.environ[NO_RELAY] = "1"
        return _serve_app("services.cli:production_app", args, settings, workers=args.workers)
    return _serve_app(
        _collected_rarely(lambda: production(settings, relay_in_process=not args.no_relay)), args, settings
    )


NO_RELAY = "CROSSVIEW_SERVE_NO_RELAY"  # how `serve --no-relay` reaches its worker processes


def production_app():
    """The API on the real services, built from the environment: what each `serve --workers` process runs."""
    from services.bootstrap import production
    from services.http.app import create_app

    return create_app(
        _collected_rarely(lambda: production(Settings(), relay_in_process=os.environ.get(NO_RELAY) != "1"))
    )


def _collected_rarely(build):
    """``build``, then the server process's garbage collected rarely (collect_garbage_rarely): the
    collector's full passes over what start-up made were the API's slowest answers (BENCHMARKS.md)."""

    def built():
        from services.bootstrap import collect_garbage_rarely

        container = build()
        collect_garbage_rarely()
        return container

    return built


def _serve_app(build, args: argparse.Namespace, settings: Settings, workers: int = 1) -> int:
    import uvicorn

    from services.http.app import create_app

    fast = {"loop": "uvloop", "http": "httptools", "log_level": "warning"}
    # Whose X-Forwarded-For is believed: the proxies named, none by default (uvicorn's own default,
    # 127.0.0.1, let any local process write where a read came from in the audit trail).
    fast |= {"proxy_headers": bool(settings.trusted_proxies), "forwarded_allow_ips": settings.trusted_proxies or ""}
    if isinstance(build, str):
        uvicorn.run(build, factory=True, host=args.host, port=args.port, workers=workers, **fast)
    else:
        uvicorn.run(create_app(build), host=args.host, port=args.port, **fast)
    return 0


def _projector(settings: Settings, args: argparse.Namespace) -> int:
    from services.bootstrap import collect_garbage_rarely, run_projector

    collect_garbage_rarely()
    print(f"projector: following {', '.join(settings.event_topics)} as group {settings.projector_group}", flush=True)
    run_projector(settings, _stop_on_signal())
    return 0


def _relay(settings: Settings, args: argparse.Namespace) -> int:
    from services.bootstrap import run_relay

    print(
        f"relay: stored domain events -> {settings.topic('domain')}, audit records -> {settings.topic('audit')}",
        flush=True,
    )
    run_relay(settings, _stop_on_signal())
    return 0


def _stop_on_signal() -> threading.Event:
    """Set on SIGTERM or Ctrl+C, so a long-running command finishes its batch and stops cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from services.bootstrap import collect_garbage_rarely, rebuild

    collect_garbage_rarely()  # a rebuild is the projector's loop over the whole log

    generation, projector = rebuild(settings, ProgressBar("rebuild"))
    print(
        f"\nrebuild: generation {generation} is now active ({projector.totals.applied} events applied, "
        f"{projector.totals.duplicates} duplicates dropped, {projector.totals.dead_lettered} undecodable)"
    )
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from projections.log_export import Filter
    from services.adapters.parquet_export import ExportRefused
    from services.bootstrap import export

    refused = _window_refused(args.since, args.until, "--since") or _types_refused(args.types or ())
    if refused:
        print(f"crossview export: {refused}", file=sys.stderr)
        return 2
    keep = Filter(args.since, args.until, frozenset(args.types or ()))
    bar = ProgressBar("export")

    def progress(p) -> None:
        bar(p.done, p.total)

    try:
        result = export(settings, Path(args.to), keep, progress, snapshots=not args.no_snapshots, workers=args.workers)
    except ExportRefused as error:
        print(f"\ncrossview export: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # not a directory, not writable...
        print(f"\ncrossview export: cannot write the export to {args.to}: {error}", file=sys.stderr)
        return 2
    rows = ", ".join(f"{name} {count:,}" for name, count in sorted(result.rows.items())) or "nothing new"
    print(f"\nexport: run {result.run}: {result.records:,} log records read; rows written: {rows}")
    print(f'query it: crossview sql --in {args.to} "SHOW TABLES"  (or: cd {args.to} && duckdb -init views.sql)')
    return 0


def _sql(args: argparse.Namespace) -> int:
    import csv
    from pathlib import Path

    import duckdb

    from services.adapters.duckdb_sql import MAX_ROWS, query, render

    try:
        columns, rows, cut = query(Path(args.directory), args.statement)
    except (FileNotFoundError, ValueError) as error:
        print(f"crossview sql: {error}", file=sys.stderr)
        return 2
    except duckdb.Error as error:
        print(f"crossview sql: {error}", file=sys.stderr)
        return 1
    if columns and args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    elif columns:
        print(render(columns, rows))
    if cut:
        print(f"(only the first {MAX_ROWS:,} rows: add a LIMIT, or COPY (...) TO 'file.parquet')", file=sys.stderr)
    return 0


def _instant(value: str, end_of_day: bool):
    """An RFC 3339 instant with its offset, in UTC (read as the API's as_of is); a date stands for
    its first instant (UTC), or for its last with ``end_of_day`` (an --until: through that day)."""
    from datetime import UTC, datetime, time

    from schemas.as_of import as_of_value

    try:
        asked = as_of_value(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{value!r}: {error}") from None
    if isinstance(asked, datetime):  # a datetime is a date too: asked first
        return asked
    return datetime.combine(asked, time.max if end_of_day else time.min, UTC)


def _window_refused(since, until, since_option: str) -> str | None:
    """Why a window that holds no instant is refused (None: it holds some)."""
    if since is not None and until is not None and since > until:
        return f"{since_option} {since.isoformat()} is after --until {until.isoformat()}: nothing would be kept"
    return None


def _types_refused(types) -> str | None:
    """Why --types are refused: one that is neither an event type nor a family would keep nothing."""
    from projections.log_export import FAMILIES
    from schemas.events import EVENT_TYPES

    unknown = sorted(t for t in types if t not in EVENT_TYPES and t not in FAMILIES)
    if unknown:
        return f"unknown event types or families: {', '.join(unknown)} (known families: {', '.join(FAMILIES)})"
    return None


def _workers(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: a whole number of processes, 1 or more")
    return count


def _since(value: str):
    return _instant(value, end_of_day=False)


def _until(value: str):
    return _instant(value, end_of_day=True)


def _model_name(value: str) -> str:
    import re

    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", value):
        raise argparse.ArgumentTypeError(
            "a name of lower-case letters, digits and _, starting with a letter, 63 characters at most"
        )
    return value


class ProgressBar:
    """Events done of the total, the rate since this run started (a resumed run counts what it did
    itself) and the time left: one line rewritten on a terminal, a line every 5 s in a log file."""

    def __init__(self, label: str, out=sys.stderr, width: int = 30) -> None:
        import time

        self._clock = time.monotonic
        self._label, self._out, self._width = label, out, width
        self._started_at, self._first, self._shown_at = self._clock(), None, float("-inf")
        self._live = out.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        if self._first is None:
            self._first = done
        if not self._live and now - self._shown_at < 5 and done < total:
            return
        self._shown_at = now
        rate = (done - self._first) / max(now - self._started_at, 1e-9)
        share = done / total if total else 1.0
        filled = int(self._width * share)
        left = f"{_duration((total - done) / rate)} left" if rate > 0 and done < total else ""
        line = (
            f"{self._label} [{'#' * filled}{'.' * (self._width - filled)}] {share:4.0%} "
            f"{done:,}/{total:,} events  {rate:,.0f}/s  {left}"
        )
        print(f"\r{line}   " if self._live else line, end="" if self._live else "\n", file=self._out, flush=True)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from projections.postgres_models import ModelConflict
    from services.bootstrap import collect_garbage_rarely, replay

    collect_garbage_rarely()  # the projector's loop over the whole log, as a rebuild
    logging.getLogger("kafka").setLevel(logging.WARNING)  # the client's connection news would break the bar
    refused = _window_refused(args.since, args.until, "--from")
    if refused:
        print(f"crossview replay: {refused}", file=sys.stderr)
        return 2
    window = f"from {args.since.isoformat()} " if args.since else ""
    print(f"replay: {window}until {args.until.isoformat()} into {args.into!r}", file=sys.stderr)
    try:
        model, totals, resumed = replay(
            settings, args.into, args.until, args.since, ProgressBar("replay"), workers=args.workers
        )
    except ModelConflict as error:
        print(f"crossview: {error}", file=sys.stderr)
        return 1
    print(
        f"\nreplay: read model {args.into!r} is ready{' (resumed)' if resumed else ''}: "
        f"{totals.applied} events applied, {totals.duplicates} duplicates dropped, "
        f"{totals.dead_lettered} undecodable; query it with model={args.into}",
    )
    return 0


def _models(settings: Settings, args: argparse.Namespace) -> int:
    from services.bootstrap import read_models

    if args.action == "drop" and not args.name:
        print("crossview: models drop needs the read model's NAME", file=sys.stderr)
        return 2
    with read_models(settings) as models:
        if args.action == "drop":
            if not models.drop(args.name):
                print(f"crossview: no read model {args.name!r} (`crossview models list` shows them)", file=sys.stderr)
                return 1
            print(f"read model {args.name!r} dropped")
            return 0
        for model in models.all():
            since = model.since.isoformat() if model.since else "the start"
            state = f"made {model.finished_at:%Y-%m-%d %H:%M}" if model.finished_at else "being made (or interrupted)"
            print(f"{model.name}  from {since} until {model.until.isoformat()}  {state}")
    return 0


def _topics(settings: Settings, args: argparse.Namespace) -> int:
    from services.bootstrap import create_topics

    for topic, partitions in create_topics(settings).items():
        print(f"{topic}: {partitions} partitions, infinite retention")
    return 0


def _dead_letters(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from services.adapters.dead_letters import read_dead_letters, replay

    letters = read_dead_letters(settings)
    if args.only:
        wanted = set(args.only)
        letters = [letter for letter in letters if letter.place in wanted]
        unknown = wanted - {letter.place for letter in letters}
        if unknown:
            print(
                f"crossview: no dead letter at {sorted(unknown)}; `crossview dead-letters list` shows them",
                file=sys.stderr,
            )
            return 2
    if args.action == "list":
        for letter in letters:
            origin = f"{letter.origin_topic}:{letter.origin_partition}:{letter.origin_offset}"
            if args.json:
                print(
                    json.dumps(
                        {
                            "place": letter.place,
                            "origin": origin,
                            "type": letter.event_type,
                            "reason": letter.reason,
                        }
                    )
                )
            else:
                print(
                    f"{letter.record.partition}:{letter.record.offset}  from {origin}  {letter.event_type}  {letter.reason}"
                )
        print(f"{len(letters)} dead letter(s) in {settings.dead_letter_topic}", file=sys.stderr)
        return 0
    from services.application.relay import EVENT_STORE

    stored = [letter for letter in letters if letter.origin_topic == EVENT_STORE]
    for letter in stored:  # no topic to send them back to: the relay could not make a wire event of them
        print(f"kept {letter.place}: a stored event the relay could not publish ({letter.reason})", file=sys.stderr)
    letters = [letter for letter in letters if letter.origin_topic != EVENT_STORE]
    count = replay(settings, letters, lambda letter: print(f"replayed {letter.place} -> {letter.origin_topic}"))
    print(f"{count} dead letter(s) sent back to their topics; the projector applies what it now can", file=sys.stderr)
    return 0


def _schemas(action: str) -> int:
    from importlib.metadata import version

    from schemas.asyncapi import ASYNCAPI_FILE, asyncapi_document
    from schemas.catalogue import (
        JSON_DIR,
        current_schemas,
        incompatibilities,
        latest_release,
        read_dir,
        render,
    )

    current, asyncapi = current_schemas(), render(asyncapi_document(version("crossview")))
    if action == "generate":
        JSON_DIR.mkdir(exist_ok=True)
        for event_type, schema in current.items():
            (JSON_DIR / f"{event_type}.json").write_text(render(schema))
        ASYNCAPI_FILE.write_text(asyncapi)
        print(f"wrote {len(current)} schemas to {JSON_DIR} and the AsyncAPI document {ASYNCAPI_FILE.name}")
        return 0
    failures = []
    committed = {name: render(schema) for name, schema in read_dir(JSON_DIR).items()}
    if committed != {name: render(schema) for name, schema in current.items()}:
        failures.append("schemas/json differs from the models: run `crossview schemas generate` and commit")
    if not ASYNCAPI_FILE.exists() or ASYNCAPI_FILE.read_text() != asyncapi:
        failures.append("schemas/asyncapi.json differs from the models: run `crossview schemas generate` and commit")
    release = latest_release()
    if release is not None:
        failures += [f"breaks release {release.name}: {p}" for p in incompatibilities(read_dir(release), current)]
    for failure in failures:
        print(failure, file=sys.stderr)
    if not failures:
        print(
            f"schemas: {len(current)} event types, up to date, compatible with release "
            f"{release.name if release else '(none)'}"
        )
    return 1 if failures else 0


def _token(settings: Settings, args: argparse.Namespace) -> int:
    from services.application.auth import development_token

    key = settings.development_signing_key
    if key is None:
        print(
            "crossview: tokens come from your OIDC provider (CROSSVIEW_AUTH_JWKS_URL is set); set "
            "CROSSVIEW_AUTH_SIGNING_KEY as well to sign development tokens here.",
            file=sys.stderr,
        )
        return 2
    if not settings.auth_signing_key:
        print("(signed with the public demo key: accepted by `crossview demo` and local trials only)", file=sys.stderr)
    roles = [Role(r) for r in args.role]
    print(development_token(key, args.subject, roles, settings.auth_audience, ttl_s=int(args.hours * 3600)))
    return 0


def _api_key(name: str) -> int:
    import secrets

    from services.application.auth import api_key_digest

    key = f"cvk_{secrets.token_urlsafe(32)}"
    print(f"Give this key to {name} (sent as the X-Api-Key header); it is shown once:\n{key}")
    print(f"Add this entry to CROSSVIEW_ADAPTER_KEYS (comma-separated):\n{name}={api_key_digest(key)}")
    return 0


def _keys(settings: Settings, args: argparse.Namespace) -> int:
    from projections.postgres_store import open_pool
    from services.bootstrap import data_keys

    if args.action == "rotate" and not args.person_id:
        print("crossview: keys rotate needs the PERSON_ID whose key to rotate", file=sys.stderr)
        return 2
    pool = open_pool(settings.database_url, max_size=1)
    try:
        keys = data_keys(settings, pool)
        if args.action == "rotate":
            try:
                print(f"{args.person_id}: key version {keys.rotate(args.person_id)} seals from now on")
            except KeyError:
                print(f"crossview: {args.person_id} was erased: they have no key any more", file=sys.stderr)
                return 1
        else:
            print(f"rewrapped {keys.rewrap()} data keys under the current CROSSVIEW_MASTER_KEY")
    finally:
        pool.close()
    return 0


COMMANDS = {
    "demo": _demo,
    "keys": _keys,
    "token": _token,
    "serve": _serve,
    "projector": _projector,
    "relay": _relay,
    "rebuild": _rebuild,
    "export": _export,
    "replay": _replay,
    "models": _models,
    "topics": _topics,
    "dead-letters": _dead_letters,
}

if __name__ == "__main__":
    sys.exit(main())
