"""MLRun function hub references (``hub://NAME[:TAG]``): fetch, list, show, pull.

``fetch_text`` is what ``mlctl.pipeline.read`` calls for a ``hub://``
source, so every command that takes a spec file takes a hub reference.
The hub is MLRun's (layout in ``mlctl.hub.source``, catalog format in
``mlctl.hub.catalog``); which one comes from, in order: the ``source``
argument (``--hub``), the ``hub_url`` setting (``MLCTL_HUB_URL``,
``MLRUN_HUB_URL``, config files), then the public MLRun hub. The channel
comes from ``channel`` (``--channel``), ``MLCTL_HUB_CHANNEL``, else
``master``; the download timeout from ``timeout``, ``MLCTL_HUB_TIMEOUT``,
else 30 s.

Every remote file is fetched fresh, checked (complete; YAML or JSON of the
right shape) and only then cached. When the hub cannot be reached the
cached copy is used and the ``Reporter`` is told its age; a 404 or a
broken answer is an error and is never cached. Files of a local hub
(``file://`` or a directory) are read in place and not cached.

This package does network and file I/O but never prints: progress and
warnings go to the ``Reporter`` (``mlctl.hub.report``), which the CLI
draws on stderr. It knows nothing of Kubernetes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlctl.errors import InvalidInput, MlctlError
from mlctl.hub import cache, report
from mlctl.hub import catalog as catalog_
from mlctl.hub import ref as ref_
from mlctl.hub import source as source_
from mlctl.spec import files

ENV_CHANNEL = "MLCTL_HUB_CHANNEL"
ENV_TIMEOUT = "MLCTL_HUB_TIMEOUT"
# a spec file left mid-merge in the hub's repository (the corpus holds one)
_CONFLICT = re.compile(r"^<{7} ", re.MULTILINE)


@dataclass(frozen=True)
class Fetched:
    """One hub file as read: from the hub, or from the cache when the hub was unreachable."""

    text: str
    data: bytes
    parsed: Any
    url: str
    label: str  # what error messages name as the file
    sha256: str
    cached_age: dt.timedelta | None = None  # set when the cache stood in for the hub

    @property
    def from_cache(self) -> bool:
        return self.cached_age is not None


@dataclass(frozen=True)
class Shown:
    """What ``mlctl hub show`` reports: a catalog entry, its versions and its spec's URL."""

    ref: ref_.Ref
    entry: catalog_.Entry
    versions: list[str]
    url: str

    def as_data(self) -> dict[str, Any]:
        data = self.entry.summary()
        data.update({"ref": str(self.ref), "versions": self.versions, "url": self.url})
        return data


@dataclass(frozen=True)
class Pulled:
    path: Path
    fetched: Fetched


def fetch_text(
    ref: str,
    *,
    source: str | None = None,
    timeout: float | None = None,
    channel: str | None = None,
    reporter: report.Reporter | None = None,
) -> tuple[str, str]:
    """The spec text behind ``hub://NAME[:TAG]`` and the label errors should name (its URL)."""
    fetched = fetch(ref, source=source, timeout=timeout, channel=channel, reporter=reporter)
    return fetched.text, fetched.label


def fetch(
    ref: str | ref_.Ref,
    *,
    source: str | None = None,
    timeout: float | None = None,
    channel: str | None = None,
    reporter: report.Reporter | None = None,
) -> Fetched:
    """A function's ``function.yaml``, checked to be a YAML mapping."""
    item = ref if isinstance(ref, ref_.Ref) else ref_.parse(ref)
    hub = resolve(source, channel)
    seconds = resolve_timeout(timeout)
    try:
        return _get(hub, hub.item_path(item.directory, item.tag), _check_spec, seconds, reporter)
    except source_.Missing as exc:
        raise source_.Missing(_explain_missing(item, hub, exc.message, seconds)) from None


def load_catalog(
    *,
    source: str | None = None,
    timeout: float | None = None,
    channel: str | None = None,
    reporter: report.Reporter | None = None,
) -> catalog_.Catalog:
    """The hub's catalog of functions and versions."""
    hub = resolve(source, channel)
    return _catalog(hub, resolve_timeout(timeout), reporter)


def list_functions(
    category: str | None = None,
    *,
    source: str | None = None,
    timeout: float | None = None,
    channel: str | None = None,
    reporter: report.Reporter | None = None,
) -> list[catalog_.Entry]:
    """The latest version of every function, optionally of one category, by name."""
    found = load_catalog(source=source, timeout=timeout, channel=channel, reporter=reporter)
    entries = found.latest()
    return catalog_.in_category(entries, category) if category else entries


def show(
    ref: str | ref_.Ref,
    *,
    source: str | None = None,
    timeout: float | None = None,
    channel: str | None = None,
    reporter: report.Reporter | None = None,
) -> Shown:
    """A function's catalog entry for the tag asked for, with every version it has."""
    item = ref if isinstance(ref, ref_.Ref) else ref_.parse(ref)
    hub = resolve(source, channel)
    found = _catalog(hub, resolve_timeout(timeout), reporter)
    entry = found.find(item)
    if entry is None:
        label = hub.label(hub.catalog_path())
        raise source_.Missing(f"{item}: {_not_in_catalog(item, found)} (catalog {label})")
    versions = [e.version or e.tag for e in found.versions(item.name)]
    return Shown(item, entry, versions, hub.label(hub.item_path(entry.directory, entry.tag)))


def pull(
    ref: str | ref_.Ref,
    dest: Path | None = None,
    *,
    force: bool = False,
    source: str | None = None,
    timeout: float | None = None,
    channel: str | None = None,
    reporter: report.Reporter | None = None,
) -> Pulled:
    """Write a function's spec to ``dest`` (default ``./NAME.yaml``; in a directory, NAME.yaml).

    The file appears whole or not at all, and an existing file is kept
    unless ``force``.
    """
    item = ref if isinstance(ref, ref_.Ref) else ref_.parse(ref)
    target = dest if dest is not None else Path(f"{item.name}.yaml")
    if target.is_dir():
        target = target / f"{item.name}.yaml"
    if not target.parent.is_dir():
        raise InvalidInput(f"{target}: the directory {target.parent} does not exist")
    if target.exists() and not force:  # checked again, atomically, when writing
        raise InvalidInput(f"{target}: already exists (use --force to overwrite it)")
    fetched = fetch(item, source=source, timeout=timeout, channel=channel, reporter=reporter)
    files.write_atomic(target, fetched.data, overwrite=force)
    return Pulled(target, fetched)


def resolve(source: str | None = None, channel: str | None = None) -> source_.Source:
    """The hub to read: the argument, else the ``hub_url`` setting, else MLRun's public hub."""
    if source is None:
        from mlctl.spec import config_files

        source = str(config_files.load().get("hub_url") or "")
    return source_.parse(source, channel or os.environ.get(ENV_CHANNEL))


def resolve_timeout(timeout: float | None = None) -> float:
    """Seconds a download may take: the argument, else ``MLCTL_HUB_TIMEOUT``, else 30."""
    if timeout is None:
        raw = os.environ.get(ENV_TIMEOUT, "").strip()
        if not raw:
            return source_.DEFAULT_TIMEOUT
        try:
            timeout = float(raw)
        except ValueError:
            raise InvalidInput(f"{ENV_TIMEOUT}='{raw}': expected a number of seconds, e.g. 30") from None
    if not 0 < timeout < float("inf"):
        raise InvalidInput(f"hub timeout {timeout:g}: expected a positive number of seconds")
    return timeout


Check = Callable[[bytes, str], tuple[str, Any]]


def _get(
    hub: source_.Source,
    relative: str,
    check: Check,
    timeout: float,
    reporter: report.Reporter | None,
) -> Fetched:
    """Read one hub file: fresh when possible, the cache when the hub is unreachable."""
    reporter = reporter or report.current()
    url, label = hub.url(relative), hub.label(relative)
    if hub.is_local:
        # a local hub is always at hand: a cached copy would only go stale
        data = source_.read(hub, relative, timeout=timeout, reporter=reporter)
        return _fetched(data, url, label, check)
    target = cache.path(hub.key, relative)
    try:
        data = source_.read(hub, relative, timeout=timeout, reporter=reporter)
    except source_.Unreachable as exc:
        entry = cache.load(target)
        if entry is None:
            raise source_.Unreachable(f"{exc.message}; no cached copy of it to use instead") from None
        age = entry.age()
        reporter.warn(
            f"{exc.message}; using the cached copy fetched {cache.describe_age(age)} ago "
            f"({entry.fetched_at:%Y-%m-%d %H:%M} UTC)"
        )
        return _fetched(entry.data, url, label, check, cached_age=age)
    fetched = _fetched(data, url, label, check)  # raises before anything is cached
    try:
        cache.store(target, data, url)
    except OSError as exc:
        # the file is good; an unwritable cache only costs the offline fallback
        reporter.warn(f"could not cache {url} in {target.parent} ({exc.strerror or exc})")
    return fetched


def _fetched(data: bytes, url: str, label: str, check: Check, cached_age: dt.timedelta | None = None) -> Fetched:
    text, parsed = check(data, label)
    return Fetched(text, data, parsed, url, label, hashlib.sha256(data).hexdigest(), cached_age)


def _decode(data: bytes, label: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise source_.HubError(f"{label}: the hub's answer is not UTF-8 text (byte {exc.start} is not)") from None


def _check_spec(data: bytes, label: str) -> tuple[str, Any]:
    """The text, if it is a YAML mapping; spec content is the loader's and validator's business."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    text = _decode(data, label)
    conflict = _CONFLICT.search(text)
    if conflict:
        line = text.count("\n", 0, conflict.start()) + 1
        raise source_.HubError(
            f"{label}: the hub's answer has unresolved merge conflict markers at line {line}; "
            "the hub needs fixing (mlctl hub show NAME lists other versions)"
        )
    yaml = YAML(typ="safe")
    # duplicate keys are a located spec error the loader reports (exit 3);
    # here only "is this YAML at all" is asked
    yaml.allow_duplicate_keys = True
    try:
        parsed = yaml.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise source_.HubError(f"{label}: the hub's answer is not valid YAML{where} ({problem})") from None
    if not isinstance(parsed, dict):
        shown = text.strip().splitlines()[0][:60] if text.strip() else "an empty answer"
        raise source_.HubError(f"{label}: the hub's answer is not a function spec (got: {shown!r})")
    return text, parsed


def _check_catalog(data: bytes, label: str) -> tuple[str, Any]:
    text = _decode(data, label)
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise source_.HubError(f"{label}: the hub's catalog is not valid JSON ({exc})") from None
    catalog_.parse(parsed, label)  # the shape is checked before caching, too
    return text, parsed


def _catalog(hub: source_.Source, timeout: float, reporter: report.Reporter | None) -> catalog_.Catalog:
    try:
        fetched = _get(hub, hub.catalog_path(), _check_catalog, timeout, reporter)
    except source_.Missing as exc:
        raise source_.Missing(
            f"{exc.message}: is {hub.root} the root of an MLRun hub? "
            f"(it should hold {source_.OBJECT_TYPE}/{hub.channel}/{source_.CATALOG})"
        ) from None
    return catalog_.parse(fetched.parsed, fetched.label)


def _explain_missing(item: ref_.Ref, hub: source_.Source, message: str, timeout: float) -> str:
    """The 404's message, plus what the catalog knows (best effort, quietly)."""
    try:
        found = _catalog(hub, timeout, report.Reporter())
    except MlctlError:
        return f"{item}: {message}"
    return f"{item}: {_not_in_catalog(item, found)}; tried {message}"


def _not_in_catalog(item: ref_.Ref, found: catalog_.Catalog) -> str:
    if item.name not in found.names():
        hint = catalog_.did_you_mean(item.name, found.names())
        more = f" (did you mean {', '.join(hint)}?)" if hint else " (see mlctl hub list)"
        return f"the hub has no function '{item.name}'{more}"
    versions = [e.version or e.tag for e in found.versions(item.name)]
    listed = ("..., " if len(versions) > 10 else "") + ", ".join(versions[-10:])
    if found.find(item) is not None:
        return f"the catalog lists '{item.tag}' but the hub has no spec file for it"
    return f"'{item.name}' has no version '{item.tag}' (versions: {listed or 'none'}; or latest)"
