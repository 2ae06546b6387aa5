"""A run's retry policy: MLRun's ``retry`` run parameter (count, backoff) and mlctl's disruption bound.

``count`` is how many times a failed run is tried again (attempts =
count + 1; 0 means no retry), as in MLRun's ``spec.retry.count``;
``backoff`` the wait before a retried attempt (MLRun's
``spec.retry.backoff.base_delay``, 30 s by default). A disruption (the
pod's node reclaimed or drained, the pod evicted or preempted) is not a
failure: it is retried without spending ``count``, up to
``max_disruptions`` times.

The policy rides on the run object and its pods as one annotation, so a
watcher (``mlctl run``, ``mlctl monitor``) knows the bound without the
command line that started the run. Pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlctl.errors import InvalidInput
from mlctl.spec import durations

DEFAULT_BACKOFF = "30s"  # MLRun's function.spec.retry.backoff.default_base_delay
DEFAULT_MAX_DISRUPTIONS = 3
_ZERO = re.compile(r"^\s*0+(\.0*)?\s*([A-Za-z]+)?\s*$")


@dataclass(frozen=True)
class Retry:
    """How a run is tried again. ``count`` None: the run did not ask (a kind's own policy stays)."""

    count: int | None = None
    backoff: str = DEFAULT_BACKOFF
    max_disruptions: int = DEFAULT_MAX_DISRUPTIONS

    @property
    def retries(self) -> int:
        return self.count or 0

    @property
    def backoff_seconds(self) -> float:
        return backoff_seconds(self.backoff)

    def annotation(self) -> str:
        return json.dumps(
            {"count": self.retries, "backoff": self.backoff, "max_disruptions": self.max_disruptions}, sort_keys=True
        )


def backoff_seconds(value: object) -> float:
    """A backoff in seconds: any time string (``30s``, ``1m``), or 0 (no wait); never "no limit"."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return 0.0
    if isinstance(value, str) and _ZERO.match(value):
        return 0.0
    seconds = durations.parse_seconds(value)
    if seconds < 0:
        raise durations.TimeStringError(f"'{value}' is not a wait: a backoff is a time string such as '30s' or 0")
    return seconds


def count_of(value: object, where: str) -> int:
    """A retry count: a whole number of at least 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{where}: {value!r} is not a retry count (a whole number, 0 or more)")
    return value


def parse(
    count: int | None = None, backoff: str | None = None, max_disruptions: int | None = None, base: Retry | None = None
) -> Retry:
    """The policy from command-line values over ``base`` (a task file's); each given value wins."""
    base = base or Retry()
    if count is not None:
        count_of(count, "--retry")
    if max_disruptions is not None and max_disruptions < 0:
        raise InvalidInput(f"--max-disruptions: {max_disruptions} is not a bound (a whole number, 0 or more)")
    if backoff is not None:
        try:
            backoff_seconds(backoff)
        except durations.TimeStringError as exc:
            raise InvalidInput(f"--retry-backoff: {exc}") from None
    return Retry(
        count=base.count if count is None else count,
        backoff=base.backoff if backoff is None else backoff,
        max_disruptions=base.max_disruptions if max_disruptions is None else max_disruptions,
    )


def from_annotations(annotations: Mapping[str, Any] | None, key: str) -> Retry:
    """The policy a run object or pod carries (the defaults when it carries none, or one that cannot be read)."""
    raw = (annotations or {}).get(key)
    try:
        data = json.loads(raw) if raw else {}
        return Retry(
            count=int(data.get("count", 0)),
            backoff=str(data.get("backoff", DEFAULT_BACKOFF)),
            max_disruptions=int(data.get("max_disruptions", DEFAULT_MAX_DISRUPTIONS)),
        )
    except (TypeError, ValueError, AttributeError):
        return Retry()
