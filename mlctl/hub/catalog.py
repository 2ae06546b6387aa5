"""The hub's ``catalog.json``: which functions exist, in which versions.

The format is the one the ``mlrun/functions`` hub build writes per channel
and MLRun's API server reads (``_transform_catalog_dict_to_schema``)::

    {"<directory>": {"latest": {<item.yaml>}, "1.2.0": {<item.yaml>}, ...}, ...}

Each item is the function's ``item.yaml``: ``name``, ``version``,
``categories``, ``description``, ``spec`` (``kind``, ``image``, ``handler``
...) and more. This module is pure: it turns parsed JSON into values and
answers questions about them; it never fetches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlctl.hub import ref as ref_
from mlctl.hub import source as source_


@dataclass(frozen=True)
class Entry:
    """One version of one function, as the catalog describes it."""

    name: str  # MLRun's item name: what users write after hub://
    directory: str  # the catalog key: the item's directory in the hub
    tag: str  # the catalog's key for this version: "latest" or a version
    version: str
    kind: str
    categories: tuple[str, ...]
    description: str
    data: Mapping[str, Any] = field(repr=False, compare=False)

    def summary(self) -> dict[str, Any]:
        """The fields people look at, as plain data for output."""
        spec = self.data.get("spec") if isinstance(self.data.get("spec"), Mapping) else {}
        return {
            "name": self.name,
            "version": self.version,
            "tag": self.tag,
            "kind": self.kind,
            "categories": list(self.categories),
            "description": self.description,
            "image": str((spec or {}).get("image") or ""),
            "handler": str((spec or {}).get("handler") or ""),
            "mlrun_version": str(self.data.get("mlrunVersion") or ""),
            "labels": dict(self.data.get("labels") or {}),
        }


@dataclass(frozen=True)
class Catalog:
    entries: tuple[Entry, ...]

    def latest(self) -> list[Entry]:
        """One entry per function, sorted by name: its ``latest``, else its highest version."""
        found: list[Entry] = []
        for name in self.names():
            tagged = [e for e in self.entries if e.name == name and e.tag == ref_.LATEST]
            found.append(tagged[0] if tagged else self.versions(name)[-1])
        return found

    def versions(self, name: str) -> list[Entry]:
        """Every entry of a function except ``latest``, oldest first."""
        return sorted(
            (e for e in self.entries if e.name == name and e.tag != ref_.LATEST),
            key=lambda e: version_key(e.version or e.tag),
        )

    def find(self, ref: ref_.Ref) -> Entry | None:
        """The entry a reference means: the tag's key, else an entry of that version."""
        candidates = [e for e in self.entries if e.name == ref.name]
        for entry in candidates:
            if entry.tag == ref.tag:
                return entry
        for entry in candidates:
            if entry.version == ref.tag and entry.tag != ref_.LATEST:
                return entry
        return None

    def names(self) -> list[str]:
        return sorted({e.name for e in self.entries})

    def categories(self) -> list[str]:
        return sorted({c for e in self.entries for c in e.categories})


def parse(data: Any, url: str) -> Catalog:
    """A ``Catalog`` from parsed ``catalog.json``; a wrong shape is the hub's fault."""
    if not isinstance(data, Mapping):
        raise source_.HubError(f"{url}: not a hub catalog (expected an object of functions)")
    entries: list[Entry] = []
    for directory, versions in data.items():
        if not isinstance(versions, Mapping):
            raise source_.HubError(f"{url}: not a hub catalog ('{directory}' should map tags to item descriptions)")
        for tag, item in versions.items():
            if isinstance(item, Mapping):
                entries.append(_entry(str(directory), str(tag), item))
    return Catalog(tuple(entries))


def _entry(directory: str, tag: str, item: Mapping[str, Any]) -> Entry:
    spec = item.get("spec") if isinstance(item.get("spec"), Mapping) else {}
    categories = item.get("categories") or []
    return Entry(
        # MLRun names items by the normalised directory, not by item.yaml's name
        name=ref_.normalize(directory),
        directory=directory,
        tag=tag,
        version=str(item.get("version") or ("" if tag == ref_.LATEST else tag)),
        kind=str((spec or {}).get("kind") or ""),
        categories=tuple(str(c) for c in categories) if isinstance(categories, list) else (),
        description=str(item.get("description") or "").strip(),
        data=item,
    )


def in_category(entries: Iterable[Entry], category: str) -> list[Entry]:
    wanted = category.strip().lower()
    return [e for e in entries if wanted in (c.lower() for c in e.categories)]


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts 1.10.0 after 1.9.0 and numbers before words."""
    parts = re.split(r"[.\-+_]", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def did_you_mean(name: str, known: Iterable[str]) -> list[str]:
    import difflib

    return difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
