"""glaas-server [serve|migrate|admin …]: upgrade the database to the newest schema, then serve;
or manage who may use it (users, their SSH keys and API tokens, projects and members)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from glaas.settings import Settings, parse_workers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sqlalchemy.orm import Session as Db

ADMIN_HELP = """\
glaas-server admin create-user NAME
glaas-server admin add-key NAME KEYFILE          (an OpenSSH public key: id_ed25519.pub; - reads stdin)
glaas-server admin create-token NAME [--file F] [--expires-in 30d|12h|2w|never] [--label L]
                                                 (prints the token, or writes F as JSON, 0600)
glaas-server admin tokens NAME [--json]          (the user's tokens in force: ID, name, start, expiry)
glaas-server admin revoke-token NAME ID          (one token, by the ID `admin tokens` shows)
glaas-server admin revoke-tokens NAME            (every API token of the user stops working)
glaas-server admin create-project OWNER/PROJECT
glaas-server admin add-member OWNER/PROJECT NAME
glaas-server admin users [--json]"""


def migrate(settings: Settings) -> None:
    from glaas.migrate import upgrade

    upgrade(settings.database_url)


def serve(settings: Settings) -> None:
    import tempfile

    import uvicorn

    from glaas.api import balance
    from glaas.api.app import create_app

    migrate(settings)  # a server never runs against a schema older than its models
    if settings.workers == 1:
        app = create_app(settings)
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=settings.access_log,
        )
        return
    # Several processes on one socket: each worker builds its own app (its own engine and
    # PostgreSQL pool; SQLite in WAL mode serves readers in many processes) from the same
    # environment, by the factory's name. The parent only watches them.
    os.environ["GLAAS_WORKERS"] = str(settings.workers)
    with tempfile.TemporaryDirectory(prefix="glaas-server-") as tmp:
        # Where the workers tell each other how many connections they hold (glaas.api.balance).
        os.environ[balance.ENV] = path = os.path.join(tmp, "balance")
        balance.create_file(path, settings.workers)
        uvicorn.run(
            "glaas.api.app:app_from_env",
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=settings.access_log,
        )


def _admin_parser(sub: argparse._SubParsersAction) -> None:
    admin = sub.add_parser("admin", help="manage users, keys, tokens and projects")
    verbs = admin.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser("create-user", help="a new user").add_argument("name")
    key = verbs.add_parser("add-key", help="register a user's SSH public key")
    key.add_argument("name")
    key.add_argument("keyfile", help="an OpenSSH public key file (- for stdin)")
    token = verbs.add_parser("create-token", help="a new API token for a user (shown once)")
    token.add_argument("name")
    token.add_argument("--file", type=Path, help="write it there as JSON (mode 0600)")
    token.add_argument(
        "--expires-in",
        default="never",
        metavar="DURATION",
        help="refused after this long: 12h, 30d, 2w (default: never, until revoked)",
    )
    token.add_argument("--label", help="a name to tell it apart on the account page")
    listing = verbs.add_parser("tokens", help="list a user's API tokens in force")
    listing.add_argument("name")
    listing.add_argument("--json", action="store_true")
    one = verbs.add_parser("revoke-token", help="revoke one API token of a user")
    one.add_argument("name")
    one.add_argument("id", help="its ID, as `admin tokens` shows")
    verbs.add_parser("revoke-tokens", help="revoke every API token of a user").add_argument("name")
    verbs.add_parser("create-project", help="a new OWNER/PROJECT scope").add_argument("slug")
    member = verbs.add_parser("add-member", help="add a user to a project")
    member.add_argument("slug")
    member.add_argument("name")
    verbs.add_parser("users", help="list users, keys and projects").add_argument(
        "--json", action="store_true"
    )


def admin(settings: Settings, args: argparse.Namespace) -> int:
    from glaas.db import make_engine, make_sessionmaker
    from glaas.service import auth

    migrate(settings)
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as db:
            try:
                return _admin(db, args)
            except auth.AdminError as exc:
                print(f"glaas-server admin: {exc}", file=sys.stderr)
                return 1
    finally:
        engine.dispose()


def _admin(db: Db, args: argparse.Namespace) -> int:
    from glaas.service import auth as a

    if args.verb == "create-user":
        a.create_user(db, args.name)
        print(f"created user {args.name}")
    elif args.verb == "add-key":
        try:
            line = sys.stdin.read() if args.keyfile == "-" else Path(args.keyfile).read_text()
        except OSError as exc:
            raise a.AdminError(f"cannot read {args.keyfile}: {exc.strerror or exc}") from None
        fp = a.add_key(db, args.name, line)
        print(f"added key {fp} for {args.name}")
    elif args.verb == "create-token":
        expires_in = a.parse_duration(args.expires_in)
        token = a.create_token(db, args.name, args.label, expires_in)
        until = "" if expires_in is None else f", good for {args.expires_in.strip()}"
        if args.file is None:
            print(token)
            if until:
                print(f"(token for {args.name}{until})", file=sys.stderr)
        else:
            _write_secret(args.file, {"user": args.name, "token": token})
            print(
                f"wrote a token for {args.name}{until} to {args.file} (give it to roar login "
                "--token-file)"
            )
    elif args.verb == "tokens":
        _tokens(db, args.name, args.json)
    elif args.verb == "revoke-token":
        from glaas.service import account

        a.users_check(db, args.name)
        account.revoke_token(db, args.name, args.id)
        print(f"revoked token {args.id} of {args.name}")
    elif args.verb == "revoke-tokens":
        n = a.revoke_tokens(db, args.name)
        print(f"revoked {n} token(s) of {args.name}")
    elif args.verb == "create-project":
        a.create_project(db, args.slug)
        print(f"created project {args.slug}")
    elif args.verb == "add-member":
        a.add_member(db, args.slug, args.name)
        print(f"{args.name} is a member of {args.slug}")
    elif args.verb == "users":
        rows = a.users(db)
        if args.json:
            print(json.dumps(rows, indent=2))
        for r in [] if args.json else rows:
            print(
                f"{r['name']}\tkeys: {len(r['keys'])}\tprojects: {', '.join(r['projects']) or '-'}"
            )
    return 0


def _tokens(db: Db, name: str, as_json: bool) -> None:
    import time

    from glaas.service import account
    from glaas.service import auth as a

    a.users_check(db, name)
    rows = account.tokens(db, name)
    if as_json:
        print(json.dumps(rows, indent=2))
        return

    def when(t: float | None) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) if t else "-"

    for r in rows:
        ends = "never" if r["expires_at"] is None else when(r["expires_at"])
        state = " (expired)" if r["expired"] else ""
        print(
            f"{r['id']}\t{r['prefix'] or '-'}\t{r['name'] or '-'}\tcreated {when(r['created_at'])}"
            f"\tlast used {when(r['last_used_at'])}\texpires {ends}{state}"
        )


def _write_secret(path: Path, doc: dict[str, str]) -> None:
    """Write ``doc`` as JSON readable by its owner only (created 0600, never wider)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
        fh.write("\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="glaas-server",
        description="The GLaaS lineage registry. Settings: GLAAS_HOST, GLAAS_PORT, "
        "GLAAS_DATABASE_URL, GLAAS_ALLOW_ANONYMOUS (default 1), GLAAS_WORKERS (server "
        "processes, default 1), GLAAS_ACCESS_LOG (a line per request, default 0).",
        epilog=ADMIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    workers_help = "server processes (default: GLAAS_WORKERS, else 1)"
    parser.add_argument("--workers", type=int, metavar="N", help=workers_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve_parser = sub.add_parser("serve", help="migrate, then serve (the default)")
    serve_parser.add_argument(
        "--workers", type=int, metavar="N", default=argparse.SUPPRESS, help=workers_help
    )
    sub.add_parser("migrate", help="only migrate the database to the newest schema")
    _admin_parser(sub)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.workers is not None:
            settings = replace(settings, workers=parse_workers(str(args.workers), "--workers"))
    except ValueError as exc:
        parser.error(str(exc))
    if args.command == "migrate":
        migrate(settings)
        print(f"glaas: database at head ({settings.database_url.split('@')[-1]})")
    elif args.command == "admin":
        return admin(settings, args)
    else:
        serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
