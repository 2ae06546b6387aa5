"""Watch runs' pods and abort the ones stuck past their state thresholds.

One list and one long-lived watch per namespace (or cluster) feed a
``Tracker`` that knows every run pod; the loop wakes at the next deadline
(or every half second) and aborts breaching runs through
``mlctl.runs.control.abort``. API calls do not grow with the number of runs:
time passing costs nothing, only aborts and reconnects make requests.

Restart-safe: state lives in Kubernetes (timestamps, annotations), not in
the process, so a new monitor reaches the same verdicts.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlctl import errors
from mlctl.cluster.client import Cluster, concurrently
from mlctl.runs import control, gather, states

RUN_SELECTOR = states.RUN_ID


@dataclass
class Tracker:
    """Run pods by uid, when each will break its limit, and which runs have been handled. Pure.

    A pod's deadline is worked out when the pod changes, not on every tick:
    with hundreds of live runs, re-reading every pod twice a second would
    make an idle monitor's CPU grow with the number of runs.
    """

    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    handled: set[str] = field(default_factory=set)
    deadlines: dict[str, datetime | None] = field(default_factory=dict)

    def observe(self, kind: str, pod: Mapping[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        if kind == "DELETED":
            self.pods.pop(uid, None)
            self.deadlines.pop(uid, None)
        else:
            self.pods[uid] = dict(pod)
            self.deadlines[uid] = states.deadline(pod)

    def reset(self, pods: list[dict[str, Any]]) -> None:
        self.pods = {p["metadata"]["uid"]: p for p in pods}
        self.deadlines = {uid: states.deadline(p) for uid, p in self.pods.items()}

    def _run_id(self, uid: str) -> str:
        return str(self.pods[uid]["metadata"].get("labels", {}).get(states.RUN_ID, ""))

    def breaches(self, at: datetime) -> list[tuple[str, str, str]]:
        """(run id, namespace, status text) of unhandled runs with a pod past its limit."""
        found: dict[str, tuple[str, str, str]] = {}
        for uid, deadline in self.deadlines.items():
            if deadline is None or deadline > at:
                continue
            run_id = self._run_id(uid)
            if not run_id or run_id in self.handled or run_id in found:
                continue
            pod = self.pods[uid]
            text = states.breach(pod, at)
            if text:
                found[run_id] = (run_id, pod["metadata"]["namespace"], text)
        return list(found.values())

    def next_deadline(self) -> datetime | None:
        """The earliest instant an unhandled run breaks a limit (a handled run's is past and stays past)."""
        upcoming = [d for uid, d in self.deadlines.items() if d and self._run_id(uid) not in self.handled]
        return min(upcoming) if upcoming else None


class PodFeed:
    """List, then watch, run pods in a background thread; events arrive on a queue."""

    def __init__(self, cluster: Cluster, namespace: str | None, selector: str, all_namespaces: bool = False) -> None:
        self.cluster = cluster
        self.namespace = None if all_namespaces else (namespace or cluster.namespace)
        self.selector = selector
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlctl-pod-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def relist(self) -> str:
        path = self.cluster.path("v1", "Pod", self.namespace)
        listing = self.cluster.request("GET", path, query={"labelSelector": self.selector}, what="list pods")
        self.events.put(("RESET", listing.get("items", [])))
        return str(listing.get("metadata", {}).get("resourceVersion", ""))

    def _run(self) -> None:
        version = ""
        failures = 0
        while not self._stop.is_set():
            try:
                if not version:
                    version = self.relist()
                for event in self.cluster.watch(
                    "v1", "Pod", self.namespace, selector=self.selector, resource_version=version, timeout_seconds=60
                ):
                    if self._stop.is_set():
                        return
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        version = ""  # 410 Gone or similar: start over from a fresh list
                        break
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    if kind != "BOOKMARK":
                        self.events.put((str(kind), obj))
                failures = 0
            except errors.MlctlError as exc:
                failures += 1
                version = ""
                if failures >= 5:
                    self.events.put(("FAILED", exc))
                    return
                self._stop.wait(min(2.0 * failures, 10.0))


def watch(
    cluster: Cluster,
    *,
    namespace: str | None = None,
    all_namespaces: bool = False,
    selector: str = RUN_SELECTOR,
    on_pod: Callable[[str, dict[str, Any]], None] | None = None,
    on_abort: Callable[[str, str, str], None] | None = None,
    done: Callable[[Tracker], bool] | None = None,
    stop: threading.Event | None = None,
    once: bool = False,
    clock: Callable[[], datetime] = states.now,
) -> Tracker:
    """Run the loop until ``done(tracker)``, ``stop`` is set, or once (``--once``)."""
    tracker = Tracker()
    if once:
        tracker.reset(cluster.list("v1", "Pod", namespace, selector=selector, all_namespaces=all_namespaces))
        _abort_due(cluster, tracker, clock(), on_abort)
        return tracker
    feed = PodFeed(cluster, namespace, selector, all_namespaces)
    feed.start()
    stop = stop or threading.Event()
    try:
        while not stop.is_set():
            wait = 0.5
            upcoming = tracker.next_deadline()
            if upcoming is not None:
                wait = max(0.05, min(wait, (upcoming - clock()).total_seconds() + 0.05))
            try:
                kind, payload = feed.events.get(timeout=wait)
            except queue.Empty:
                kind, payload = "", None
            while kind:
                if kind == "FAILED":
                    raise payload
                if kind == "RESET":
                    tracker.reset(payload)
                    for pod in payload:
                        on_pod and on_pod("ADDED", pod)
                else:
                    tracker.observe(kind, payload)
                    on_pod and on_pod(kind, payload)
                try:
                    kind, payload = feed.events.get_nowait()
                except queue.Empty:
                    kind = ""
            _abort_due(cluster, tracker, clock(), on_abort)
            if done and done(tracker):
                break
    finally:
        feed.stop()
    return tracker


def _abort_due(
    cluster: Cluster, tracker: Tracker, at: datetime, on_abort: Callable[[str, str, str], None] | None
) -> None:
    """Abort every run past a limit; runs breaking their limits together are aborted together."""
    due = tracker.breaches(at)
    for run_id, _, _ in due:
        tracker.handled.add(run_id)

    def abort(breach: tuple[str, str, str]) -> bool:
        run_id, namespace, text = breach
        try:
            # read why it is stuck before its pods go, and keep that in the record
            return control.abort(cluster, run_id, text, namespace, gather.for_record(cluster, run_id, namespace))
        except errors.NotFound:
            return False  # the run object is gone: nothing left to abort

    for (run_id, namespace, text), aborted in zip(due, concurrently(abort, due), strict=True):
        if aborted and on_abort:
            on_abort(run_id, namespace, text)
