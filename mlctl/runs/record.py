"""A run's record: what `mlctl runs` lists, wherever the run happened.

Cluster runs keep their record on the run's own object (a Job's labels and
annotations); local runs in an SQLite file (``mlctl.runs.local_store``). Both
become this value for output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# run states, MLRun's names
PENDING = "pending"
RUNNING = "running"
SUCCEEDED = "completed"
FAILED = "error"
ABORTED = "aborted"
INTERRUPTED = "interrupted"  # a local run whose mlctl process died mid-run
TERMINAL = (SUCCEEDED, FAILED, ABORTED, INTERRUPTED)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    function: str
    project: str
    kind: str
    where: str  # "local" or "cluster"
    namespace: str
    state: str
    status_text: str = ""
    started: str = ""  # ISO 8601, UTC
    finished: str = ""
    result: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    thresholds: Mapping[str, str] = field(default_factory=dict)
    explanation: tuple[Mapping[str, Any], ...] = ()  # why it was stuck, kept when a threshold aborted it
    traceback: str = ""  # the last lines of a failed handler's traceback (cluster runs)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["result"] = dict(self.result)
        out["params"] = dict(self.params)
        out["thresholds"] = dict(self.thresholds)
        out["explanation"] = [dict(blocker) for blocker in self.explanation]
        return out
