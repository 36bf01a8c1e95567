"""`queueserver`: the one command line (CONTRACT §3)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from queueserver.auth.credentials import Role, TokenError, create_token, revoke_token
from queueserver.platform import config as config_mod
from queueserver.platform import embedded, runtime


def _config(args: argparse.Namespace) -> config_mod.Config:
    try:
        cfg = config_mod.load_default(args.config)
    except config_mod.ConfigError as e:
        sys.exit(f"queueserver: configuration error: {e}")
    if args.config:
        # Children (uvicorn workers, the RQ worker) read the same file.
        os.environ["QUEUESERVER_CONFIG"] = str(cfg.path)
    return cfg


def _serve(args: argparse.Namespace) -> int:
    from queueserver.web import server

    cfg = _config(args)
    return server.serve(cfg, host=args.host, port=args.port, workers=args.workers)


def _tokens_create(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.centre and not cfg.centre(args.centre):
        sys.exit(f"queueserver: unknown centre {args.centre!r}")
    r = runtime.connect(runtime.redis_url(cfg))
    try:
        token, cred = create_token(r, Role(args.role), args.centre, args.counter, args.name)
    except TokenError as e:
        sys.exit(f"queueserver: {e}")
    print(f"created {cred.role.value} credential {cred.name!r} (id {cred.id})", file=sys.stderr)
    print(token)
    return 0


def _tokens_revoke(args: argparse.Namespace) -> int:
    cfg = _config(args)
    r = runtime.connect(runtime.redis_url(cfg))
    if not revoke_token(r, args.name):
        print(f"queueserver: no credential named {args.name!r}", file=sys.stderr)
        return 1
    print(f"revoked {args.name!r}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from queueserver.tools import demo

    return demo.run(_config(args), host=args.host, port=args.port, speed=args.speed,
                    quiet=args.quiet)


def _simulate(args: argparse.Namespace) -> int:
    from queueserver.tools import simulate

    return simulate.run(_config(args), args.url, args.bookings, args.counters,
                        args.speed, args.hours, args.seed, args.centre, args.json_path)


def _bench(args: argparse.Namespace) -> int:
    from queueserver.tools.bench import cli as bench_cli

    return bench_cli.main(_config(args), args)


def _backup(args: argparse.Namespace) -> int:
    from queueserver.operations import backup

    return backup.run_backup(_config(args), args.centre, args.file)


def _restore(args: argparse.Namespace) -> int:
    from queueserver.operations import backup

    return backup.run_restore(_config(args), args.centre, args.file, args.replace)


def _worker(args: argparse.Namespace) -> int:
    from queueserver.tools import worker

    return worker.run(_config(args), burst=args.burst)


def _bookings_import(args: argparse.Namespace) -> int:
    from queueserver.booking_sync import cli as booking_cli

    code: int = booking_cli.run_import(_config(args), args.file, args.format)
    return code


def _applications_import(args: argparse.Namespace) -> int:
    from queueserver.booking_sync import cli as booking_cli

    code: int = booking_cli.run_applications_import(_config(args), args.file, args.format)
    return code


def _bookings_sync(args: argparse.Namespace) -> int:
    from queueserver.booking_sync import cli as booking_cli

    code: int = booking_cli.run_sync(_config(args))
    return code


def _sounds_render(args: argparse.Namespace) -> int:
    from queueserver.sounds import cli as sounds_cli

    code: int = sounds_cli.run_render(_config(args), args.engine, args.centre)
    return code


def _sounds_bench(args: argparse.Namespace) -> int:
    from queueserver.sounds import bench

    code: int = bench.run(args.counters, args.engine)
    return code


def _users_create(args: argparse.Namespace) -> int:
    from queueserver.tools import users_cli

    cfg = _config(args)
    return users_cli.create(cfg, runtime.redis_url(cfg), args.name, args.role, args.centre,
                            args.counter)


def _users_revoke(args: argparse.Namespace) -> int:
    from queueserver.tools import users_cli

    return users_cli.revoke(runtime.redis_url(_config(args)), args.name)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="queueserver", description=__doc__)
    p.add_argument("--config", help="the TOML config (default: $QUEUESERVER_CONFIG, else the "
                                     "shipped sample)")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, run: Callable[[argparse.Namespace], int], help: str,
                parent: argparse._SubParsersAction[argparse.ArgumentParser] = sub,
                ) -> argparse.ArgumentParser:
        c = parent.add_parser(name, help=help, description=help)
        c.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        c.set_defaults(run=run)
        return c

    s = command("serve", _serve, "the web server (API, WebSockets, pages, clips)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1)

    d = command("demo", _demo, "everything in one process tree on the embedded default, with "
                               "sample centres, bookings and credentials: a centre at work at "
                               "any hour, on its own demo clock, with simulated people and "
                               "clerks (counter 1 is yours)")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8000)
    d.add_argument("--speed", type=float, default=1.0,
                   help="how many times as fast as real time the demo clock runs (default 1)")
    d.add_argument("--quiet", action="store_true",
                   help="print the screens' URLs, logins and tokens, and nothing after them")

    sim = command("simulate", _simulate, "play a whole day against a running server (its API "
                                         "and WebSocket) and report waits and estimate accuracy")
    sim.add_argument("--bookings", type=int, default=600)
    sim.add_argument("--counters", type=int, help="default: every counter of the centre")
    sim.add_argument("--speed", type=float, default=1.0,
                     help="how many times as fast as real time (the server's clock must match)")
    sim.add_argument("--url", default="http://127.0.0.1:8000")
    sim.add_argument("--hours", type=float, default=8.0, help="the day's booked hours")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--centre", help="default: the config's first centre")
    sim.add_argument("--json", dest="json_path", help="also write the report here as JSON")

    bn = command("bench", _bench, "the benchmark: check-ins, calls to 30 and 1,000 displays "
                                  "and memory per display, beside a bare relay (the floor)")
    bn.add_argument("--processes", type=int, default=2, help="serve processes to start")
    bn.add_argument("--targets", help="comma-separated URLs of running serve processes to "
                                      "measure instead (needs their REDIS_URL and secret)")
    bn.add_argument("--short", action="store_true", help="a few seconds, for CI")
    bn.add_argument("--only", choices=["booking_rush"],
                    help="run this part alone (its own Redis and serve processes)")
    bn.add_argument("--appendfsync", choices=["always", "everysec", "no"], default="always",
                    help="the private Redis's setting (default: the embedded default's)")
    bn.add_argument("--centre", help="default: the config's first centre")
    bn.add_argument("--json", dest="json_path", help="also write the JSON document here")

    bk = command("backup", _backup, "write one centre's data to a file, at one moment "
                                    "(docs/deploy.md)")
    bk.add_argument("centre")
    bk.add_argument("file", help="a new file, or - for standard output")
    rs = command("restore", _restore, "put one centre's data back from a backup file")
    rs.add_argument("centre")
    rs.add_argument("file")
    rs.add_argument("--replace", action="store_true",
                    help="delete what the centre holds now, in the same step")

    w = command("worker", _worker, "the background worker (announcement audio, booking sync, "
                                   "day close, purges)")
    w.add_argument("--burst", action="store_true", help="work off the queues, then exit")

    bookings = sub.add_parser("bookings", help="booking exports").add_subparsers(
        dest="bookings_command", required=True)
    b = command("import", _bookings_import, "import a booking export (CSV or JSON)", bookings)
    b.add_argument("file")
    b.add_argument("--format", choices=["csv", "json"])
    command("sync", _bookings_sync, "one pull of the booking feed ([booking_feed] url in the "
                                    "config); same output and exit codes as import", bookings)

    applications = sub.add_parser("applications", help="the booking platform's approved "
                                                       "applications").add_subparsers(
        dest="applications_command", required=True)
    a = command("import", _applications_import, "import the approved applications (CSV or "
                "JSON): each newly approved one gets a booking token and an invitation email",
                applications)
    a.add_argument("file")
    a.add_argument("--format", choices=["csv", "json"])

    tokens = sub.add_parser("tokens", help="API credentials").add_subparsers(
        dest="tokens_command", required=True)
    t = command("create", _tokens_create, "create an API credential; prints the token last",
                tokens)
    t.add_argument("--role", required=True, choices=[r.value for r in Role])
    t.add_argument("--centre")
    t.add_argument("--counter", type=int)
    t.add_argument("--name")
    t = command("revoke", _tokens_revoke, "revoke an API credential", tokens)
    t.add_argument("name")

    logins = sub.add_parser("users", help="staff logins").add_subparsers(
        dest="users_command", required=True)
    u = command("create", _users_create, "create a staff login; reads the password from "
                                         "standard input", logins)
    u.add_argument("name")
    u.add_argument("--role", required=True, choices=[r.value for r in Role])
    u.add_argument("--centre")
    u.add_argument("--counter", type=int)
    u = command("revoke", _users_revoke, "remove a staff login and end its sessions", logins)
    u.add_argument("name")

    sounds = sub.add_parser("sounds", help="announcement audio").add_subparsers(
        dest="sounds_command", required=True)
    sr = command("render", _sounds_render, "render every announcement segment a centre can "
                                           "need, with a progress bar", sounds)
    sr.add_argument("--engine", choices=["gtts", "espeak", "tone"],
                    help="default: each centre's announcement_engine")
    sr.add_argument("--centre", help="default: every centre in the config")
    sb = command("bench", _sounds_bench, "time rendering and call-to-clips on a private Redis",
                 sounds)
    sb.add_argument("--counters", type=int, default=30)
    sb.add_argument("--engine", choices=["espeak", "tone"], default="espeak")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not hasattr(args, "config"):
        args.config = None
    try:
        result: int = args.run(args)
    except (runtime.SetupError, embedded.EmbeddedRedisUnavailable) as e:
        print(f"queueserver: {e}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
