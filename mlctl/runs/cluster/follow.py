"""Follow one cluster run to its end: state changes, logs, thresholds, result.

``mlctl run`` uses this while it watches; it is the monitor loop narrowed
to one run id, plus log streaming and the run's final record. Output goes
through callbacks; nothing here prints.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlctl import errors
from mlctl.cluster.client import Cluster
from mlctl.kube import labels
from mlctl.runs import record as record_
from mlctl.runs import states
from mlctl.runs.cluster import control, monitor

NO_POD_GRACE = 2.0  # seconds a controller gets to create a pod before mlctl asks it why not
NO_POD_POLL = 3.0  # seconds between two looks at its events while there is still no pod


@dataclass
class Callbacks:
    state: Callable[[str, str], None]  # (pod name, description)
    log: Callable[[str], None]
    abort: Callable[[str], None]


def follow(
    cluster: Cluster,
    run_id: str,
    runtime: str,
    namespace: str,
    callbacks: Callbacks,
    timeout: float = float("inf"),
    stream_logs: bool = True,
) -> record_.RunRecord:
    """Watch until the run object says the run has ended; raise ``WaitTimeout`` when ``timeout`` passes first.

    The end is the run object's own terminal condition (a Job's Complete or
    Failed, an MPIJob's Succeeded or Failed, a SparkApplication's state), or
    mlctl's record on it (aborted): a launcher or driver pod that has ended
    does not mean its operator has decided the run's outcome yet, nor that
    the run will not be tried again. Each attempt's pod is followed (its
    state, its logs) as it comes.
    """
    run = _Follower(cluster, run_id, runtime, namespace, callbacks, timeout, stream_logs)
    monitor.watch(
        cluster,
        namespace=namespace,
        selector=labels.of_run(run_id),
        on_pod=run.on_pod,
        on_abort=run.on_abort,
        done=run.done,
    )
    time.sleep(0.3)  # let a log stream flush its last lines
    record = control.get(cluster, run_id, namespace)
    if record.done and record.state != record_.ABORTED:
        control.finish(cluster, run_id, record, namespace)
    return record


@dataclass
class _Follower:
    """What following one run keeps between the monitor loop's calls."""

    cluster: Cluster
    run_id: str
    runtime: str
    namespace: str
    callbacks: Callbacks
    timeout: float
    stream_logs: bool
    started: float = field(default_factory=time.monotonic)
    described: dict[str, str] = field(default_factory=dict)  # pod name -> what was last said of it
    logging: set[str] = field(default_factory=set)  # pods whose logs are streamed
    attempts: list[str] = field(default_factory=list)  # the attempts' pods, in the order they came
    looked: float = 0.0  # when the events were last read
    said: str = ""  # the reason for no pod last said
    seen_object: bool = False

    def on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        primary = states.primary(self.runtime, pod)
        if primary and name not in self.attempts and kind != "DELETED":
            self.attempts.append(name)
            if len(self.attempts) > 1:
                self.callbacks.state(name, f"attempt {len(self.attempts)}")
        current = states.classify(pod)
        text = current.state or current.phase.lower()
        attempt = states.attempt_of(pod)
        if kind == "DELETED":
            text = "deleted"
        elif attempt.outcome == record_.ATTEMPT_DISRUPTED:
            text = f"disrupted: {attempt.message}"
        elif current.reason and current.state != "running":
            text += f": {current.reason}"
        if self.described.get(name) != text:
            self.described[name] = text
            self.callbacks.state(name, text)
        if (
            self.stream_logs
            and name not in self.logging
            and primary
            and current.phase in ("Running", "Succeeded", "Failed")
        ):
            self.logging.add(name)
            args = (self.cluster, name, self.namespace, self.callbacks.log)
            threading.Thread(target=_stream, args=args, daemon=True).start()

    def on_abort(self, run: str, _namespace: str, text: str) -> None:
        self.callbacks.abort(text)

    def explain(self, tracker: monitor.Tracker) -> None:
        """No pod yet, a while after the run object was made: say why, in the controller's words."""
        obj = tracker.object_of(self.run_id)
        if obj is None or tracker.pod_count.get(self.run_id, 0) > 0 or not tracker.pods_listed:
            return
        since = states.no_pod_since(obj)
        if since is None or (states.now() - since).total_seconds() < NO_POD_GRACE:
            return
        if time.monotonic() - self.looked < NO_POD_POLL:
            return
        self.looked = time.monotonic()
        reason = control.no_pod_reason(self.cluster, obj)
        if reason and reason != self.said:
            self.said = reason
            self.callbacks.state(obj["metadata"]["name"], f"no pod: {reason}")

    def done(self, tracker: monitor.Tracker) -> bool:
        if self.run_id in tracker.handled:
            return True
        obj = tracker.object_of(self.run_id)
        if obj is not None:
            self.seen_object = True
            if states.object_state(obj) in record_.TERMINAL:
                return True  # the run object's own verdict: its controller (or operator) has decided
        elif self.seen_object:
            return True  # the run object was deleted by someone else
        elif any(
            (p.get("status") or {}).get("phase") in ("Succeeded", "Failed")
            for p in tracker.pods.values()
            if states.primary(self.runtime, p)
        ):
            return True  # a run object this connection cannot watch (a version not served): its pod's end
        if time.monotonic() - self.started > self.timeout:
            raise errors.WaitTimeout(
                f"run {self.run_id} still going after the --timeout; it goes on (mlctl runs get {self.run_id})"
            )
        self.explain(tracker)
        return False


def _stream(cluster: Cluster, pod: str, namespace: str, emit: Callable[[str], None]) -> None:
    try:
        for line in cluster.logs(pod, namespace, follow=True):
            emit(line)
    except errors.MlctlError:
        pass  # logs are a courtesy: a pod without logs (or gone) must not fail the run
