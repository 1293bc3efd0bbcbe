"""roar auth register|test|status [--json]: the SSH key that signs GLaaS requests.

``register`` prints the public key to have added to your GLaaS account (`glaas-server admin
add-key NAME FILE`, or pasted in the server's web UI where it offers that); ``test`` makes one
signed request and says whom the server knows the key as; ``status`` shows the server, the
key and the stored login.
"""

from __future__ import annotations

import argparse

from roar.cli.commands._common import add_json_flag
from roar.cli.console import Console

HELP = "SSH key authentication with GLaaS: show your key, test it, show the auth status"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("auth", help=HELP)
    verbs = p.add_subparsers(dest="verb", required=True, metavar="{register,test,status}")
    for name, text in (
        ("register", "show the SSH public key to add to your GLaaS account"),
        ("test", "make a signed request to GLaaS and say whom it knows the key as"),
        ("status", "show the GLaaS URL, the signing key and its fingerprint, and the login"),
    ):
        add_json_flag(verbs.add_parser(name, help=text))
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    from roar.registry import account
    from roar.workspace import find_workspace

    ws = find_workspace()
    config_path = ws.config_path if ws else None
    if args.verb == "register":
        from roar.registry.auth import keys_page_url

        info = {**account.key_info(config_path), "add_at": keys_page_url(config_path)}
        if args.json:
            console.json(info)
            return 0
        console.out(info["public_key"])
        console.err(f"Key: {info['key']} ({info['fingerprint']})")
        console.err(
            f"Add it to your GLaaS account: sign in at {info['add_at']} and paste it there, or "
            "have the server's admin run: glaas-server admin add-key YOUR_NAME KEY.pub. "
            "Then: roar auth test."
        )
        return 0
    if args.verb == "test":
        out = account.test_key(config_path)
        if args.json:
            console.json(out)
            return 0
        console.out(f"Authenticated to {out['url']} as {out['user']} with {out['fingerprint']}.")
        console.err("roar login stores this as your login (signed requests from then on).")
        return 0
    out = account.status(config_path)
    if args.json:
        console.json(out)
        return 0
    console.out(f"GLaaS URL:  {out['url'] or 'not configured (roar config set glaas.url URL)'}")
    if out["key"]:
        console.out(f"SSH key:    {out['key']}")
        console.out(f"Fingerprint: {out['fingerprint']}")
    else:
        console.out(f"SSH key:    none ({out['key_error']})")
    login = out["login"]
    if login:
        via = login["method"] + (f" {login['key']}" if login.get("key") else "")
        console.out(f"Logged in:  as {login['user']} ({via})")
    else:
        console.out("Logged in:  no (registrations are anonymous; roar login)")
    console.out(f"Auth state: {out['auth_state']}")
    return 0
