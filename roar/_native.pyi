"""Type stub for roar._native, the pyo3 module built from rust/roar-native."""

import os
from collections.abc import Iterable

__version__: str
HASH_ALGORITHMS: tuple[str, ...]

_Path = str | bytes | os.PathLike[str] | os.PathLike[bytes]

def hash_file(path: _Path, algo: str = "blake3") -> str: ...
def hash_bytes(data: bytes | bytearray | memoryview, algo: str = "blake3") -> str: ...
def hash_files(
    paths: Iterable[_Path], algo: str = "blake3"
) -> list[tuple[str, int, int, int, int] | str]: ...
def composite_digest(members: Iterable[tuple[str | bytes, str]], algo: str = "blake3") -> str: ...

class TracedProcess:
    @property
    def pid(self) -> int: ...
    def wait(self, timeout: float | None = None) -> str | None: ...
    def done(self) -> bool: ...

def spawn_traced(
    argv: list[_Path],
    env: dict[str, str] | dict[bytes, bytes] | None = None,
    cwd: _Path | None = None,
    backend: str = "ptrace",
) -> TracedProcess: ...
