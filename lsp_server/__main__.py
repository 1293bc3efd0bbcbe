"""``roar-lsp [--tcp [--host H] [--port P]]``: stdio by default (stdout belongs to JSON-RPC)."""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="roar-lsp", description="roar's language server")
    # --stdio is what vscode-languageclient (TransportKind.stdio) and others pass: the default.
    parser.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (default)")
    parser.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="TCP host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2087, help="TCP port (default 2087)")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    args = parser.parse_args(argv)
    if args.version:
        import roar

        print(f"roar-lsp {roar.__version__}")
        return 0
    # Logs go to stderr: editors show it in the server's output panel.
    logging.basicConfig(stream=sys.stderr, level=args.log_level, format="roar-lsp: %(message)s")
    logging.getLogger("pygls").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        from lsp_server.server import server
    except ImportError as exc:  # roar installed without its `lsp` extra
        print(f"roar-lsp: {exc}; install it with: pip install 'roar[lsp]'", file=sys.stderr)
        return 1

    if args.tcp:
        server.start_tcp(args.host, args.port)
    else:
        server.start_io()
    return 0


if __name__ == "__main__":
    sys.exit(main())
