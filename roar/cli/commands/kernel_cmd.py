"""roar kernel install [--user|--sys-prefix] [--name N] | list [--json] | uninstall [--name N]"""

from __future__ import annotations

import argparse

from roar.cli.commands._common import add_json_flag
from roar.cli.console import Console
from roar.errors import RoarError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kernel", help="Install the roar Jupyter kernel (records every cell)")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    install = verbs.add_parser("install", help='install the "Python 3 (roar)" kernelspec')
    where = install.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="for this user only")
    where.add_argument("--sys-prefix", action="store_true", help="into this Python environment")
    where.add_argument("--prefix", help="under this prefix (share/jupyter/kernels)")
    install.add_argument("--name", default="roar", help="kernelspec name (default: roar)")
    install.add_argument("--display-name", help='name shown in Jupyter (default "Python 3 (roar)")')
    listing = verbs.add_parser("list", help="roar kernelspecs Jupyter can see")
    add_json_flag(listing)
    remove = verbs.add_parser("uninstall", help="remove a roar kernelspec")
    remove.add_argument("--name", default="roar", help="kernelspec name (default: roar)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    install_mod = _install_module()
    if args.verb == "install":
        path = install_mod.install(
            args.name,
            user=args.user,
            sys_prefix=args.sys_prefix,
            prefix=args.prefix,
            display_name=args.display_name,
        )
        console.out(f"Installed kernelspec {args.name} in {path}")
        console.err("Pick it in Jupyter as the kernel; every cell you run is recorded.")
        return 0
    if args.verb == "uninstall":
        removed = install_mod.uninstall(args.name)
        if removed is None:
            raise RoarError(
                f"No roar kernelspec named {args.name}.",
                hint="Run `roar kernel list` to see the installed ones.",
            )
        console.out(f"Removed kernelspec {args.name} from {removed}")
        return 0
    kernels = install_mod.installed()
    if getattr(args, "json", False):
        console.json({"kernels": [vars(k) for k in kernels]})
        return 0
    if not kernels:
        console.err("No roar kernel installed. Run `roar kernel install`.")
        return 0
    for k in kernels:
        console.out(f"{k.name:<16} {k.display_name:<20} {k.path}")
    return 0


def _install_module():  # type: ignore[no-untyped-def]
    try:
        from roar_kernel import install
    except ImportError as exc:
        raise RoarError(
            f"The roar kernel needs Jupyter's kernel packages ({exc.name} is missing).",
            hint="Install them with: pip install 'roar[jupyter]'",
        ) from exc
    return install
