"""The request-signing protocol, shared by the server (glaas.auth) and the client
(roar.registry.auth); it needs only the `cryptography` package, no server dependency.

A signed request carries four headers::

    X-GLaaS-Key:        SHA256:<base64>   the key's fingerprint, as `ssh-keygen -l` prints it
    X-GLaaS-Timestamp:  <unix seconds>    within WINDOW of the server's clock
    X-GLaaS-Nonce:      <32 hex digits>   random; the server refuses a nonce it has seen
    X-GLaaS-Signature:  <base64>          over ``message(...)`` below

and, since protocol v2, a fifth naming the protocol::

    X-GLaaS-Protocol:   glaas-request-v2

The signed message is the protocol's name, the method, (v2) the ``Host`` the request was sent
to, the request target exactly as sent (path and query), the SHA-256 of the body, the
timestamp and the nonce, one per line: a v2 request replayed to another host does not verify
there. A request without the fifth header is v1 (the same lines without the host), which the
server still accepts from older clients. Keys are
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

PROTOCOL = "glaas-request-v1"  # no host: what clients before v2 sign
PROTOCOL_V2 = "glaas-request-v2"  # the Host header signed too
KEY, TIMESTAMP, NONCE, SIGNATURE = (
    "X-GLaaS-Key",
    "X-GLaaS-Timestamp",
    "X-GLaaS-Nonce",
    "X-GLaaS-Signature",
)
HEADERS = (KEY, TIMESTAMP, NONCE, SIGNATURE)
VERSION = "X-GLaaS-Protocol"  # PROTOCOL_V2; absent: PROTOCOL
WINDOW = 300  # seconds a signature stays good either side of the server's clock


class BadKey(ValueError):
    """A key file or public key line that cannot be used (its message says why)."""


def message(
    method: str, target: str, body: bytes, timestamp: str, nonce: str, host: str | None = None
) -> bytes:
    """The bytes signed: v2 with ``host`` (the ``Host`` header's value), else v1."""
    digest = hashlib.sha256(body).hexdigest()
    lines = [PROTOCOL, method.upper(), target, digest, timestamp, nonce]
    if host is not None:
        lines = [PROTOCOL_V2, method.upper(), normal_host(host), *lines[2:]]
    return "\n".join(lines).encode()


def normal_host(host: str) -> str:
    """A Host header's value as signed: lower case, without a default port (an HTTP client
    may or may not write ``:443`` for https://host:443/)."""
    host = host.strip().lower()
    for default in (":80", ":443"):
        if host.endswith(default):
            return host[: -len(default)]
    return host


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


KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
RSA_MIN_BITS = 2048


def read_public_line(text: str) -> tuple[Any, str | None]:
    """(key, comment) of one pasted OpenSSH public key line, checked more strictly than
    ``load_public``: a supported type named, base64 intact, RSA of 2048 bits or more; a private
    key, several lines or an authorized_keys line with options are refused, saying so."""
    text = text.strip()
    if not text:
        raise BadKey("no key given: paste the line `roar auth register` prints (ssh-ed25519 AAAA…)")
    if "PRIVATE KEY" in text:
        raise BadKey(
            "this is a PRIVATE key: it must stay on your machine; paste the public key instead "
            "(the .pub file, or what `roar auth register` prints)"
        )
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) > 1:
        raise BadKey(f"paste one key at a time (this text has {len(lines)} lines)")
    parts = text.split(None, 2)
    if parts[0] not in KEY_TYPES:
        raise BadKey(
            f"a public key line starts with its type ({', '.join(KEY_TYPES)}), not "
            f"{parts[0][:40]!r}"
        )
    if len(parts) < 2:
        raise BadKey(f"the line has the key type {parts[0]} but no key after it")
    try:
        base64.b64decode(parts[1], validate=True)
    except (ValueError, TypeError):
        raise BadKey(
            "the key's base64 text is damaged (was it cut or wrapped when copied?)"
        ) from None
    key = load_public(" ".join(parts[:2]))
    from cryptography.hazmat.primitives.asymmetric import rsa

    if isinstance(key, rsa.RSAPublicKey) and key.key_size < RSA_MIN_BITS:
        raise BadKey(
            f"this RSA key has {key.key_size} bits: use {RSA_MIN_BITS} or more, or ed25519"
        )
    comment = parts[2].strip()[:200] if len(parts) > 2 else None
    return key, comment or None


def key_type(line: str) -> str:
    """The type named at the start of an OpenSSH public key line (``ssh-ed25519``)."""
    return line.split(None, 1)[0] if line.strip() else ""


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
    private_key: Any,
    method: str,
    target: str,
    body: bytes,
    now: float | None = None,
    host: str | None = None,
) -> dict[str, str]:
    """The headers that sign this request with ``private_key``: v2 (five headers) when the
    ``host`` it goes to is given, else v1 (four)."""
    ts = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    sig = sign(private_key, message(method, target, body, ts, nonce, host))
    out = {
        KEY: fingerprint(private_key.public_key()),
        TIMESTAMP: ts,
        NONCE: nonce,
        SIGNATURE: base64.b64encode(sig).decode(),
    }
    if host is not None:
        out[VERSION] = PROTOCOL_V2
    return out
