"""The local copy of hub files, so a known function still loads offline.

Layout: ``<cache dir>/hub/<source key>/<path as in the hub>``, plus
``<file>.meta.json`` holding the URL, the sha256 of the bytes and when they
were fetched. The cache dir is ``platformdirs.user_cache_dir("mlctl")``, or
``MLCTL_CACHE_DIR``.

Rules this module keeps: an entry is written only by ``store``, which the
caller invokes after the response was complete and parsed; the data file is
renamed into place before its metadata, so an interrupted write leaves an
entry whose checksum does not match, which ``load`` treats as absent. It
never fetches and never prints.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlctl.spec import files

ENV_DIR = "MLCTL_CACHE_DIR"
_META = ".meta.json"


@dataclass(frozen=True)
class Entry:
    """One cached hub file."""

    data: bytes
    url: str
    sha256: str
    fetched_at: dt.datetime

    def age(self, now: dt.datetime | None = None) -> dt.timedelta:
        return (now or dt.datetime.now(dt.UTC)) - self.fetched_at


def root(environ: Mapping[str, str] | None = None) -> Path:
    """The hub's folder in the user's cache dir."""
    env = os.environ if environ is None else environ
    base = env.get(ENV_DIR)
    if not base:
        import platformdirs

        base = platformdirs.user_cache_dir("mlctl")
    return Path(base).expanduser() / "hub"


def path(source_key: str, relative: str, base: Path | None = None) -> Path:
    """Where the copy of ``relative`` (a path below the hub root) lives."""
    folder = (base or root()) / source_key
    target = folder.joinpath(*relative.split("/"))
    # refs are validated to plain segments; this guards against a bug there
    if folder.resolve() not in target.resolve().parents:
        raise ValueError(f"hub cache path escapes the cache: {relative}")
    return target


def load(target: Path) -> Entry | None:
    """The cached entry at ``target``, or None when absent, unreadable or corrupt."""
    try:
        meta = json.loads(_meta_path(target).read_text(encoding="utf-8"))
        data = target.read_bytes()
        fetched_at = dt.datetime.fromisoformat(str(meta["fetched_at"]))
        expected = str(meta["sha256"])
        url = str(meta["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if hashlib.sha256(data).hexdigest() != expected:
        return None
    if fetched_at.tzinfo is None:
        fetched_at = fetched_at.replace(tzinfo=dt.UTC)
    return Entry(data, url, expected, fetched_at)


def store(target: Path, data: bytes, url: str, now: dt.datetime | None = None) -> Entry:
    """Save a complete, already checked response; return the entry as saved."""
    digest = hashlib.sha256(data).hexdigest()
    fetched_at = now or dt.datetime.now(dt.UTC)
    target.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(target, data)
    meta = {"url": url, "sha256": digest, "size": len(data), "fetched_at": fetched_at.isoformat()}
    files.write_atomic(_meta_path(target), (json.dumps(meta, indent=2) + "\n").encode())
    return Entry(data, url, digest, fetched_at)


def _meta_path(target: Path) -> Path:
    return target.with_name(target.name + _META)


def describe_age(age: dt.timedelta) -> str:
    """'3 minutes', '2 hours', '5 days': how old a copy is, for people."""
    seconds = max(0, int(age.total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
