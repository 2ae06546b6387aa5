"""State thresholds judged: whether the time a pod has spent in a state breaks its limit.

Evaluation is pure: the monitor feeds in the time a pod has spent in its
state (from Kubernetes' own timestamps), this module answers whether that
breaks the limit. What the limits are comes from
``mlctl.spec.state_thresholds``.
"""

from __future__ import annotations

from mlctl.spec import durations
from mlctl.spec import state_thresholds as state_thresholds_


def breach(thresholds: state_thresholds_.Thresholds, state: str, seconds_in_state: float) -> str | None:
    """The status text when ``seconds_in_state`` exceeds the state's limit, else None."""
    limit = thresholds.limit(state)
    if limit < 0 or seconds_in_state <= limit:
        return None
    return (
        f"Run aborted due to exceeded state threshold: {state} "
        f"(waited {durations.format_seconds(seconds_in_state)}, limit {durations.format_seconds(limit)})"
    )
