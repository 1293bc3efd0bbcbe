"""The request-signing protocol, shared by the server (glaas.auth) and the client
(roar.registry.auth); it needs only the `cryptography` package, no server dependency.

A signed request carries four headers::

    X-GLaaS-Key:        SHA256:<base64>   the key's fingerprint, as `ssh-keygen -l` prints it
    X-GLaaS-Timestamp:  <unix seconds>    within WINDOW of the server's clock
    X-GLaaS-Nonce:      <32 hex digits>   random; the server refuses a nonce it has seen
    X-GLaaS-Signature:  <base64>          over ``message(...)`` below

The signed message is the protocol's name, the method, the request target exactly as sent
(path and query), the SHA-256 of the body, the timestamp and the nonce, one per line. Keys are
OpenSSH keys read by `cryptography`: Ed25519 (signed as is), ECDSA (SHA-256) and RSA
(PKCS#1 v1.5, SHA-256). Verifying is an in-process call, no `ssh-keygen` process per request.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from pathlib import Path
from typing import Any

PROTOCOL = "glaas-request-v1"
KEY, TIMESTAMP, NONCE, SIGNATURE = (
    "X-GLaaS-Key",
    "X-GLaaS-Timestamp",
    "X-GLaaS-Nonce",
    "X-GLaaS-Signature",
)
HEADERS = (KEY, TIMESTAMP, NONCE, SIGNATURE)
WINDOW = 300  # seconds a signature stays good either side of the server's clock


class BadKey(ValueError):
    """A key file or public key line that cannot be used (its message says why)."""


def message(method: str, target: str, body: bytes, timestamp: str, nonce: str) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join([PROTOCOL, method.upper(), target, digest, timestamp, nonce]).encode()


def public_line(public_key: Any) -> str:
    """The OpenSSH one-line form (``ssh-ed25519 AAAA…``), without a comment."""
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


def fingerprint(public_key: Any) -> str:
    blob = base64.b64decode(public_line(public_key).split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def load_public(line: str) -> Any:
    """An OpenSSH public key line (``type base64 [comment]``)."""
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    parts = line.strip().split()
    if len(parts) < 2:
        raise BadKey("not an OpenSSH public key line (expected 'ssh-ed25519 AAAA… comment')")
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        key = load_ssh_public_key(" ".join(parts[:2]).encode())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise BadKey(f"not a usable OpenSSH public key ({exc})") from None
    _check_kind(key)
    return key


def load_private(path: Path) -> Any:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_ssh_private_key

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadKey(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        key = load_ssh_private_key(data, password=None)
    except TypeError:
        raise BadKey(
            f"{path} is protected by a passphrase, which roar cannot ask ssh-agent for"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise BadKey(f"{path} is not an OpenSSH private key ({exc})") from None
    _check_kind(key)
    return key


def _check_kind(key: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    ok = (
        ed25519.Ed25519PrivateKey,
        ed25519.Ed25519PublicKey,
        ec.EllipticCurvePrivateKey,
        ec.EllipticCurvePublicKey,
        rsa.RSAPrivateKey,
        rsa.RSAPublicKey,
    )
    if not isinstance(key, ok):
        raise BadKey(f"{type(key).__name__} keys are not supported: use ed25519, ecdsa or rsa")


def sign(private_key: Any, msg: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return private_key.sign(msg, ec.ECDSA(hashes.SHA256()))
    return private_key.sign(msg)  # type: ignore[no-any-return]


def verify(public_key: Any, signature: bytes, msg: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, msg, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, msg, ec.ECDSA(hashes.SHA256()))
        else:
            public_key.verify(signature, msg)
    except InvalidSignature:
        return False
    return True


def signed_headers(
    private_key: Any, method: str, target: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The four headers that sign this request with ``private_key``."""
    ts = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    sig = sign(private_key, message(method, target, body, ts, nonce))
    return {
        KEY: fingerprint(private_key.public_key()),
        TIMESTAMP: ts,
        NONCE: nonce,
        SIGNATURE: base64.b64encode(sig).decode(),
    }
