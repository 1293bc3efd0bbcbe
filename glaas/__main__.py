"""glaas-server [serve|migrate]: upgrade the database to the newest schema, then serve."""

from __future__ import annotations

import argparse
import sys

from glaas.settings import Settings


def migrate(settings: Settings) -> None:
    from glaas.migrate import upgrade

    upgrade(settings.database_url)


def serve(settings: Settings) -> None:
    import uvicorn

    from glaas.api.app import create_app

    migrate(settings)  # a server never runs against a schema older than its models
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="glaas-server",
        description="The GLaaS lineage registry. Settings: GLAAS_HOST, GLAAS_PORT, GLAAS_DATABASE_URL.",
    )
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.command == "migrate":
        migrate(settings)
        print(f"glaas: database at head ({settings.database_url.split('@')[-1]})")
    else:
        serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
