"""A run's record: what `mlctl runs` lists, wherever the run happened.

Cluster runs keep their record on the run's own object (a Job's labels and
annotations); local runs in an SQLite file (``mlctl.runs.local_store``). Both
become this value for output.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
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

# how an attempt ended (or where it stands)
ATTEMPT_PENDING = "pending"
ATTEMPT_RUNNING = "running"
ATTEMPT_SUCCEEDED = "succeeded"
ATTEMPT_FAILED = "failed"
ATTEMPT_DISRUPTED = "disrupted"  # its node reclaimed or drained, the pod evicted or preempted: not a failure
ATTEMPT_STOPPED = "stopped"  # its pod deleted by someone (an abort): neither a failure nor a disruption
ATTEMPT_ENDED = (ATTEMPT_SUCCEEDED, ATTEMPT_FAILED, ATTEMPT_DISRUPTED, ATTEMPT_STOPPED)


@dataclass(frozen=True)
class Attempt:
    """One try of a run: on a cluster one pod (a job's, an MPIJob's launcher, a Spark driver); locally one process."""

    number: int
    outcome: str  # one of the ATTEMPT_ names
    pod: str = ""
    node: str = ""
    started: str = ""  # ISO 8601, UTC
    finished: str = ""
    exit_code: int | None = None
    reason: str = ""  # the container's (Error, OOMKilled) or the disruption's (DeletionByTaintManager, ...)
    message: str = ""  # the handler's error, or what took the pod away

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Attempt:
        code = data.get("exit_code")
        return cls(
            number=int(data.get("number") or 0),
            outcome=str(data.get("outcome") or ""),
            pod=str(data.get("pod") or ""),
            node=str(data.get("node") or ""),
            started=str(data.get("started") or ""),
            finished=str(data.get("finished") or ""),
            exit_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
            reason=str(data.get("reason") or ""),
            message=str(data.get("message") or ""),
        )

    def describe(self) -> str:
        """``attempt 2 (pod x, node spot-1): failed, exit code 1: ValueError: ...``"""
        where = ", ".join(
            p for p in (f"pod {self.pod}" if self.pod else "", f"node {self.node}" if self.node else "") if p
        )
        text = f"attempt {self.number}" + (f" ({where})" if where else "") + f": {self.outcome}"
        if self.exit_code is not None and self.outcome != ATTEMPT_SUCCEEDED:
            text += f", exit code {self.exit_code}"
        if self.reason and self.outcome == ATTEMPT_DISRUPTED:
            text += f" ({self.reason})"
        return text + (f": {self.message}" if self.message else "")


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
    retry: Mapping[str, Any] = field(default_factory=dict)  # count, backoff, max_disruptions (when asked for)
    attempts: tuple[Attempt, ...] = ()  # oldest first

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["result"] = dict(self.result)
        out["params"] = dict(self.params)
        out["thresholds"] = dict(self.thresholds)
        out["explanation"] = [dict(blocker) for blocker in self.explanation]
        out["retry"] = dict(self.retry)
        out["attempts"] = [attempt.to_json() for attempt in self.attempts]
        return out


def newest_first(pages: Iterable[Sequence[RunRecord]], size: int) -> Iterator[list[RunRecord]]:
    """Records as they arrive, regrouped into pages of at least ``size``, each newest first (pure).

    Fewer than ``size`` records in all make one page: a short list is in order
    as a whole, a long one page by page (its pages are shown before the last is read).
    """
    held: list[RunRecord] = []
    for page in pages:
        held.extend(page)
        if len(held) >= size:
            yield sorted(held, key=lambda r: r.started, reverse=True)
            held = []
    if held:
        yield sorted(held, key=lambda r: r.started, reverse=True)
