"""Parse ``hub://NAME[:TAG]`` references the way MLRun reads them.

MLRun (``mlrun.utils.helpers.extend_hub_uri_if_needed``) normalises the
name to its item form (lower case, ``_`` -> ``-``), takes ``latest`` when no
tag is given, and finds the files in a directory named with underscores
(the hub build writes directories that way). This module is pure: it never
touches the network or the disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlctl.errors import InvalidInput

PREFIX = "hub://"
LATEST = "latest"

# Both end up as path segments of a URL and of the cache: no slashes, no
# "..", nothing a shell or a URL would need quoting for.
_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
_TAG = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Ref:
    """One hub item: its normalised name and the tag asked for."""

    name: str
    tag: str = LATEST

    @property
    def directory(self) -> str:
        """The item's directory in the hub (MLRun's hub build uses underscores)."""
        return self.name.replace("-", "_")

    @property
    def is_latest(self) -> bool:
        return self.tag == LATEST

    def __str__(self) -> str:
        return f"{PREFIX}{self.name}" if self.is_latest else f"{PREFIX}{self.name}:{self.tag}"


def normalize(name: str) -> str:
    """MLRun's item name: whitespace and underscores become dashes, lower case."""
    return re.sub(r"[\s_]+", "-", name.strip()).lower()


def is_ref(text: str) -> bool:
    return text.startswith(PREFIX)


def parse(text: str) -> Ref:
    """``hub://NAME[:TAG]`` or a bare ``NAME[:TAG]`` (what ``mlctl hub`` commands take)."""
    body = text[len(PREFIX) :] if is_ref(text) else text
    name, sep, tag = body.partition(":")
    if "/" in name:
        # MLRun's hub://SOURCE/NAME picks one of the hub sources its API
        # server knows; mlctl reads one hub and has no such registry.
        raise InvalidInput(
            f"{text}: hub://SOURCE/NAME names a hub source of an MLRun API server; "
            "mlctl reads a single hub: use hub://NAME[:TAG] with --hub or the hub_url setting"
        )
    name = normalize(name)
    if not name:
        raise InvalidInput(f"{text}: no function name (expected hub://NAME[:TAG])")
    if not _NAME.match(name) or ".." in name:
        raise InvalidInput(f"{text}: '{name}' is not a hub function name (letters, digits, '-', '_' and '.')")
    if sep and not tag:
        raise InvalidInput(f"{text}: empty tag after ':' (expected hub://NAME[:TAG])")
    tag = tag or LATEST
    if not _TAG.match(tag) or ".." in tag:
        raise InvalidInput(f"{text}: '{tag}' is not a hub tag (e.g. 'latest' or '1.2.0')")
    return Ref(name, tag)
