"""The background uploader: ``python -m roar.telemetry.upload``, started detached by hook.py.

It checks the opt-outs again, takes the counted lines into a pending payload, and POSTs each
pending payload to the endpoint. Accepted (2xx) or refused for good (4xx): deleted. Anything
else (no network, a 5xx): kept, and sent again with the same event id next time. It prints
nothing and always exits 0; one uploader runs at a time (a lock file).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from roar.telemetry import hook, payload

TIMEOUT = 10.0


def allowed() -> bool:
    env = os.environ
    return not (
        hook.opted_out(env)
        or hook.suppressed(env)
        or os.path.exists(hook.disabled_marker(env))
        or hook.project_disabled(hook.project_config())
    )


def send(url: str, path: Path) -> bool:
    """POST one pending payload; True when it need not be sent again."""
    req = urllib.request.Request(url, data=path.read_bytes(), method="POST")
    req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT):
            return True
    except urllib.error.HTTPError as err:
        return 400 <= err.code < 500 and err.code not in (408, 429)
    except (OSError, ValueError):
        return False


def upload() -> int:
    """Take and send; the number of payloads the server accepted or refused for good."""
    if not allowed():
        return 0
    import fcntl

    where = payload.folder()
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(where / "lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # another uploader is at it
        payload.take()
        url = payload.endpoint()
        done = 0
        for path in payload.pending_files():
            if not send(url, path):
                break
            path.unlink(missing_ok=True)
            done += 1
        return done


def main() -> int:
    try:
        upload()
    except Exception:  # silent: nobody is there to read it
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
