"""Follow one cluster run to its end: state changes, logs, thresholds, result.

``mlctl run`` uses this while it watches; it is the monitor loop narrowed
to one run id, plus log streaming and the run's final record. Output goes
through callbacks; nothing here prints.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlctl import errors
from mlctl.cluster.client import Cluster
from mlctl.kube import labels
from mlctl.runs import control, monitor, states
from mlctl.runs import record as record_

_PRIMARY = {
    # which pod's end is the run's end
    "mpijob": lambda pod: pod["metadata"].get("labels", {}).get("training.kubeflow.org/job-role") == "launcher",
    "spark": lambda pod: pod["metadata"].get("labels", {}).get("spark-role") == "driver",
}


NO_POD_GRACE = 2.0  # seconds a controller gets to create a pod before mlctl asks it why not
NO_POD_POLL = 3.0  # seconds between two looks at its events while there is still no pod


@dataclass
class Callbacks:
    state: Callable[[str, str], None]  # (pod name, description)
    log: Callable[[str], None]
    abort: Callable[[str], None]


def _primary(runtime: str, pod: Mapping[str, Any]) -> bool:
    check = _PRIMARY.get(runtime)
    return check(pod) if check else True


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
    does not mean its operator has decided the run's outcome yet.
    """
    described: dict[str, str] = {}
    logging: set[str] = set()
    started = time.monotonic()
    disrupted = [""]  # what took a pod away (preempted, evicted), from its DisruptionTarget condition

    def on_pod(kind: str, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        if states.disruption(pod):  # kept: the pod itself may be gone by the time the run ends
            disrupted[0] = states.disruption(pod)
        current = states.classify(pod)
        text = current.state or current.phase.lower()
        if kind == "DELETED":
            text = "deleted"
        elif current.reason and current.state != "running":
            text += f": {current.reason}"
        if described.get(name) != text:
            described[name] = text
            callbacks.state(name, text)
        if (
            stream_logs
            and name not in logging
            and _primary(runtime, pod)
            and current.phase in ("Running", "Succeeded", "Failed")
        ):
            logging.add(name)
            threading.Thread(target=_stream, args=(cluster, name, namespace, callbacks.log), daemon=True).start()

    def on_abort(run: str, _namespace: str, text: str) -> None:
        callbacks.abort(text)

    looked = [0.0]  # when the events were last read
    said = [""]  # the reason last said

    def explain(tracker: monitor.Tracker) -> None:
        """No pod yet, a while after the run object was made: say why, in the controller's words."""
        obj = tracker.object_of(run_id)
        if obj is None or tracker.pod_count.get(run_id, 0) > 0 or not tracker.pods_listed:
            return
        since = states.no_pod_since(obj)
        if since is None or (states.now() - since).total_seconds() < NO_POD_GRACE:
            return
        if time.monotonic() - looked[0] < NO_POD_POLL:
            return
        looked[0] = time.monotonic()
        reason = control.no_pod_reason(cluster, obj)
        if reason and reason != said[0]:
            said[0] = reason
            callbacks.state(obj["metadata"]["name"], f"no pod: {reason}")

    seen_object = threading.Event()

    def done(tracker: monitor.Tracker) -> bool:
        if run_id in tracker.handled:
            return True
        obj = tracker.object_of(run_id)
        if obj is not None:
            seen_object.set()
            if states.object_state(obj) in record_.TERMINAL:
                return True  # the run object's own verdict: its controller (or operator) has decided
        elif seen_object.is_set():
            return True  # the run object was deleted by someone else
        elif any(
            (p.get("status") or {}).get("phase") in ("Succeeded", "Failed")
            for p in tracker.pods.values()
            if _primary(runtime, p)
        ):
            return True  # a run object this connection cannot watch (a version not served): its pod's end
        if time.monotonic() - started > timeout:
            raise errors.WaitTimeout(
                f"run {run_id} still going after the --timeout; it goes on (mlctl runs get {run_id})"
            )
        explain(tracker)
        return False

    monitor.watch(
        cluster, namespace=namespace, selector=f"{labels.RUN_ID}={run_id}", on_pod=on_pod, on_abort=on_abort, done=done
    )
    time.sleep(0.3)  # let a log stream flush its last lines
    record = control.get(cluster, run_id, namespace)
    if record.state == record_.FAILED and disrupted[0] and not record.status_text.startswith(disrupted[0]):
        # "backoff limit reached" says little: what happened to the pod says what happened to the run
        text = f"{disrupted[0]} ({record.status_text})" if record.status_text else disrupted[0]
        record = dataclasses.replace(record, status_text=text)
    if record.done and record.state != record_.ABORTED:
        control.finish(cluster, run_id, record, namespace)
    return record


def _stream(cluster: Cluster, pod: str, namespace: str, emit: Callable[[str], None]) -> None:
    try:
        for line in cluster.logs(pod, namespace, follow=True):
            emit(line)
    except errors.MlctlError:
        pass  # logs are a courtesy: a pod without logs (or gone) must not fail the run
