"""Follow one cluster run to its end: state changes, logs, thresholds, result.

``mlctl run`` uses this while it watches; it is the monitor loop narrowed
to one run id, plus log streaming and the run's final record. Output goes
through callbacks; nothing here prints.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlctl import errors
from mlctl.cluster.client import Cluster
from mlctl.runs import control, monitor, states
from mlctl.runs import record as record_

_PRIMARY = {
    # which pod's end is the run's end
    "mpijob": lambda pod: pod["metadata"].get("labels", {}).get("training.kubeflow.org/job-role") == "launcher",
    "spark": lambda pod: pod["metadata"].get("labels", {}).get("spark-role") == "driver",
}


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
    """Watch until the run ends; raise ``WaitTimeout`` when ``timeout`` passes first."""
    described: dict[str, str] = {}
    logging: set[str] = set()
    seen_pods = threading.Event()
    started = time.monotonic()

    def on_pod(kind: str, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        seen_pods.set()
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

    def done(tracker: monitor.Tracker) -> bool:
        if run_id in tracker.handled:
            return True
        pods = [p for p in tracker.pods.values() if _primary(runtime, p)]
        if any((p.get("status") or {}).get("phase") in ("Succeeded", "Failed") for p in pods):
            return True
        if seen_pods.is_set() and not tracker.pods:
            return control.get(cluster, run_id, namespace).done  # aborted or deleted by someone else
        if time.monotonic() - started > timeout:
            raise errors.WaitTimeout(
                f"run {run_id} still going after the --timeout; it goes on (mlctl runs get {run_id})"
            )
        return False

    monitor.watch(
        cluster, namespace=namespace, selector=f"{states.RUN_ID}={run_id}", on_pod=on_pod, on_abort=on_abort, done=done
    )
    time.sleep(0.3)  # let a log stream flush its last lines
    record = control.get(cluster, run_id, namespace)
    if record.done and record.state != record_.ABORTED:
        control.finish(cluster, run_id, record, namespace)
    return record


def _stream(cluster: Cluster, pod: str, namespace: str, emit: Callable[[str], None]) -> None:
    try:
        for line in cluster.logs(pod, namespace, follow=True):
            emit(line)
    except errors.MlctlError:
        pass  # logs are a courtesy: a pod without logs (or gone) must not fail the run
