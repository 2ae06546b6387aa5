"""A spec's ``state_thresholds``: the state names, their defaults and the effective limits.

A threshold says how long a run's pod may stay in one state before the run
is aborted. This module says what the field means; ``mlctl.runs.thresholds``
judges a pod against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlctl.spec import durations

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


def canonical_state(name: str) -> str | None:
    """``executing`` -> ``running``; a known state unchanged; None when unknown."""
    name = ALIASES.get(name, name)
    return name if name in STATES else None


@dataclass(frozen=True)
class Thresholds:
    """Effective limits in seconds per canonical state (-1 = none)."""

    limits: Mapping[str, float]
    texts: Mapping[str, str]

    def limit(self, state: str) -> float:
        return self.limits.get(state, durations.NO_LIMIT)


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
    return Thresholds({s: durations.parse_seconds(t) for s, t in texts.items()}, texts)
