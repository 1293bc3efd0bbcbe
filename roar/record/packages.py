"""Which installed Python distributions a job actually used.

A job's reads under ``site-packages`` are mapped to the distributions that own them. Each
site-packages directory is indexed once (top-level names → distribution and version) and the
index is cached in ``.roar/cache/`` until the directory changes (installs touch its mtime).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

_SITE = re.compile(r"^(.*?/(?:site|dist)-packages)/([^/]+)")
_DIST_DIR = re.compile(r"^(?P<name>.+?)-(?P<version>[^-]+?)\.(?:dist|egg)-info$")


def packages_used(paths: Iterable[str], cache_dir: Path) -> dict[str, str]:
    """Distribution name → version for every distribution a path belongs to."""
    tops_by_site: dict[str, set[str]] = {}
    for path in paths:
        m = _SITE.match(path)
        if m:
            tops_by_site.setdefault(m.group(1), set()).add(m.group(2))
    used: dict[str, str] = {}
    for site, tops in tops_by_site.items():
        index = _site_index(site, cache_dir)
        for top in tops:
            if not _is_use(top):
                continue
            key = top.split(".", 1)[0] if top.endswith((".py", ".so")) else top
            hit = index.get(key)
            if hit:
                used[hit[0]] = hit[1]
    return dict(sorted(used.items(), key=lambda kv: kv[0].lower()))


# What every interpreter start reads whatever the job does: site.py processes each `.pth` file
# and the hooks they import (setuptools' distutils shim, editable installs' finders, virtualenv).
_STARTUP = re.compile(r"^(.*\.pth|__editable__.*|_distutils_hack|_virtualenv(\.py)?)$")


def _is_use(top: str) -> bool:
    """Did reading something under this top-level entry use the distribution? Loading its code
    or data does; reading its metadata does not (`*.dist-info`: importlib.metadata, entry-point
    and plugin scans read every distribution's), nor does the interpreter's start-up."""
    return not (_DIST_DIR.match(top) or _STARTUP.match(top))


def _site_index(site: str, cache_dir: Path) -> dict[str, list[str]]:
    try:
        stamp = os.stat(site).st_mtime_ns
    except OSError:
        return {}
    cache_file = (
        cache_dir
        / f"site-{hashlib.sha1(site.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}.json"
    )
    try:
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
        if cached.get("mtime_ns") == stamp:
            return cached["index"]
    except (OSError, ValueError, KeyError):
        pass
    index = _build_index(site)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"mtime_ns": stamp, "index": index}), encoding="utf-8")
        tmp.replace(cache_file)
    except OSError:
        pass  # a cache we cannot write only costs time
    return index


def _build_index(site: str) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    try:
        entries = os.listdir(site)
    except OSError:
        return index
    for entry in entries:
        m = _DIST_DIR.match(entry)
        if not m:
            continue
        dist = [m.group("name"), m.group("version")]
        index.setdefault(entry, dist)
        for top in _top_levels(os.path.join(site, entry)):
            index.setdefault(top, dist)
    return index


def _top_levels(meta_dir: str) -> set[str]:
    tops: set[str] = set()
    record = os.path.join(meta_dir, "RECORD")
    try:
        with open(record, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                first = line.split(",", 1)[0].split("/", 1)[0]
                if (
                    first
                    and not first.startswith("..")
                    and not first.endswith((".dist-info", ".egg-info"))
                ):
                    tops.add(
                        first.split(".", 1)[0] if first.endswith((".py", ".so", ".pth")) else first
                    )
    except OSError:
        try:
            with open(os.path.join(meta_dir, "top_level.txt"), encoding="utf-8") as fh:
                tops.update(line.strip() for line in fh if line.strip())
        except OSError:
            pass
    tops.discard("__pycache__")
    return tops
