"""State thresholds: names, defaults, MLRun's time-string grammar, verdicts.

A threshold says how long a run's pod may stay in one state before the run
is aborted. Parsing and evaluation are pure: the monitor feeds in the
time a pod has spent in its state (from Kubernetes' own timestamps), this
module answers whether that breaks the limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# The documentation says `running`, MLRun's code says `executing`: both are
# accepted and mean the same state; `running` is what mlctl prints.
STATES = ("pending_scheduled", "pending_not_scheduled", "image_pull_backoff", "running")
ALIASES = {"executing": "running"}
DEFAULTS: Mapping[str, str] = {
    "pending_scheduled": "1h",
    "pending_not_scheduled": "-1",
    "image_pull_backoff": "1h",
    "running": "24h",
}
NO_LIMIT = -1.0
MIN_SECONDS = 1.0

_UNITS: dict[str, float] = {}
for _names, _seconds in (
    (("s", "sec", "secs", "second", "seconds"), 1),
    (("m", "min", "mins", "minute", "minutes"), 60),
    (("h", "hr", "hrs", "hour", "hours"), 3600),
    (("d", "dy", "day", "days"), 86400),
    (("w", "wk", "wks", "week", "weeks"), 604800),
    (("M", "month", "months"), 30.5 * 86400),
    (("y", "yr", "yrs", "year", "years"), 365 * 86400),
):
    for _name in _names:
        _UNITS[_name] = _seconds

# ASCII digits only: \d would also take Arabic-Indic or fullwidth digits as numbers
_TOKEN = re.compile(r"([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*([A-Za-z]+)")
_SEPARATORS = re.compile(r"[\s,]+")


class TimeStringError(ValueError):
    """A threshold value that is not a valid time string."""


def canonical_state(name: str) -> str | None:
    """``executing`` -> ``running``; a known state unchanged; None when unknown."""
    name = ALIASES.get(name, name)
    return name if name in STATES else None


def parse_seconds(value: object) -> float:
    """Seconds in a time string; ``-1`` (string or number) means no limit.

    Follows MLRun's grammar: number/unit pairs separated by spaces or commas,
    units may touch the number, an optional ``and`` between pairs, decimals,
    repeated units add up. Single-letter units are case-sensitive (``1M`` is
    a month, ``1H`` is an error). mlctl accepts anything of at least 1 s.
    """
    if isinstance(value, bool):
        raise TimeStringError(f"threshold {value!r} must be a string such as '30m' or '1h'")
    if isinstance(value, int | float):
        if value == -1:
            return NO_LIMIT
        raise TimeStringError(f"threshold {value!r} must be a string with a unit, e.g. '{value}s' or '{value}m'")
    if not isinstance(value, str):
        raise TimeStringError(f"threshold {value!r} must be a string such as '30m' or '1h'")
    text = value.strip()
    if text == "-1":
        return NO_LIMIT
    words = [w for w in _SEPARATORS.split(text) if w]
    # `and` may open the string or stand between pairs, never close it
    if words and words[-1].lower() == "and":
        raise TimeStringError(f"'{value}' is not a valid time string (trailing 'and')")
    joined = " ".join(w for w in words if w.lower() != "and")
    total = 0.0
    position = 0
    for match in _TOKEN.finditer(joined):
        if joined[position : match.start()].strip():
            break
        unit = match.group(2)
        seconds = _UNITS.get(unit) if len(unit) == 1 else _UNITS.get(unit.lower())
        if seconds is None:
            raise TimeStringError(
                f"'{value}' is not a valid time string: unknown unit '{unit}' "
                "(use s, m, h, d, w, e.g. '90s', '1h 30m', '1 minute and 30s')"
            )
        total += float(match.group(1)) * seconds
        position = match.end()
    if not words or position == 0 or joined[position:].strip():
        raise TimeStringError(f"'{value}' is not a valid time string (e.g. '90s', '1h 30m', '1 minute and 30s', '-1')")
    if total < MIN_SECONDS:
        raise TimeStringError(f"'{value}' is shorter than the minimum of 1 second")
    return total


def format_seconds(seconds: float) -> str:
    """A short human duration: 303 -> ``5m3s``, 3600 -> ``1h``, 20.4 -> ``20.4s``, -1 -> ``no limit``.

    Under a minute a tenth of a second is kept, so a breach never reads
    "waited 20s, limit 20s".
    """
    if seconds < 0:
        return "no limit"
    if seconds < 60 and round(seconds, 1) != round(seconds):
        return f"{seconds:.1f}s"
    whole = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


@dataclass(frozen=True)
class Thresholds:
    """Effective limits in seconds per canonical state (-1 = none)."""

    limits: Mapping[str, float]
    texts: Mapping[str, str]

    def limit(self, state: str) -> float:
        return self.limits.get(state, NO_LIMIT)


def effective(function: Mapping[str, object] | None, per_run: Mapping[str, object] | None = None) -> Thresholds:
    """Per-run thresholds replace the function's (no merge); defaults fill the rest.

    Inputs are assumed validated; names may use either spelling.
    """
    chosen = per_run if per_run else (function or {})
    texts: dict[str, str] = dict(DEFAULTS)
    for name, value in chosen.items():
        state = canonical_state(name)
        if state:
            texts[state] = str(value)
    return Thresholds({s: parse_seconds(t) for s, t in texts.items()}, texts)


def breach(thresholds: Thresholds, state: str, seconds_in_state: float) -> str | None:
    """The status text when ``seconds_in_state`` exceeds the state's limit, else None."""
    limit = thresholds.limit(state)
    if limit < 0 or seconds_in_state <= limit:
        return None
    return (
        f"Run aborted due to exceeded state threshold: {state} "
        f"(waited {format_seconds(seconds_in_state)}, limit {format_seconds(limit)})"
    )
