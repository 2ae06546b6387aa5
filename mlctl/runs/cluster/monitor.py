"""Watch runs' pods and abort the ones stuck past their state thresholds.

One list and one long-lived watch per namespace (or cluster) for pods, and
one for each kind of run object (Job, MPIJob, SparkApplication), feed a
``Tracker`` that knows every run pod and run object; the loop wakes at the
next deadline (or every half second) and aborts breaching runs through
``mlctl.runs.cluster.control.abort``. A run object with no pod at all (its
controller cannot create one) is ``pending_not_scheduled`` from its
creation, or, between two attempts, from the end of the last one. A job run
disrupted more often than its bound allows (Kubernetes retries disruptions
without a bound) is ended as failed. An attempt whose pod goes (disrupted,
deleted) is kept on its run object when it ends. API calls do not grow
with the number of runs: time passing costs nothing, only aborts, kept
attempts and reconnects make requests.

Restart-safe: state lives in Kubernetes (timestamps, annotations), not in
the process, so a new monitor reaches the same verdicts.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlctl import errors
from mlctl.cluster.client import Cluster, concurrently
from mlctl.kube import kinds, labels
from mlctl.runs import record as record_
from mlctl.runs import states
from mlctl.runs.cluster import control, gather

RUN_SELECTOR = labels.RUN_ID
OBJECT_PAGE = 100  # run objects per list page


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
    # run objects (Job, MPIJob, SparkApplication) by uid: a run whose controller
    # creates no pod (quota, missing service account) is only visible here
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    object_deadlines: dict[str, datetime | None] = field(default_factory=dict)
    pod_count: Counter[str] = field(default_factory=Counter)  # run id -> its pods seen
    pods_listed: bool = False  # until the pods are listed, no run can be said to have none
    gone_at: dict[str, datetime] = field(default_factory=dict)  # run id -> when its last pod went
    ended: Counter[str] = field(default_factory=Counter)  # run id -> how many of its attempts' pods went
    disrupted: set[str] = field(default_factory=set)  # runs whose disruptions to count again against their bound
    to_keep: dict[str, dict[str, Any]] = field(default_factory=dict)  # pod uid -> an ended pod to keep

    def observe(self, kind: str, pod: Mapping[str, Any], at: datetime | None = None) -> None:
        uid = pod["metadata"]["uid"]
        run_id = _run_of(pod)
        self._note(kind, pod)
        if kind == "DELETED":
            if self.pods.pop(uid, None) is not None:
                self.pod_count[run_id] -= 1
                runtime = str(((pod.get("metadata") or {}).get("labels") or {}).get(labels.KIND, ""))
                self.ended[run_id] += states.primary(runtime, pod)
                if self.pod_count[run_id] <= 0:
                    self.gone_at[run_id] = at or states.now()
                    self._refresh_object(run_id)
            self.deadlines.pop(uid, None)
        else:
            if uid not in self.pods:
                self.pod_count[run_id] += 1
            self.pods[uid] = dict(pod)
            self.deadlines[uid] = states.deadline(pod)

    def reset(self, pods: list[dict[str, Any]]) -> None:
        self.pods = {p["metadata"]["uid"]: p for p in pods}
        self.deadlines = {uid: states.deadline(p) for uid, p in self.pods.items()}
        self.pod_count = Counter(_run_of(p) for p in pods)
        self.pods_listed = True
        for pod in pods:
            self._note("ADDED", pod)

    def _note(self, kind: str, pod: Mapping[str, Any]) -> None:
        """What a pod's change means beyond its thresholds: a disruption to count, an attempt to keep."""
        run_id = _run_of(pod)
        if states.disruption(pod) or states.earlier_attempts(pod)[1]:
            self.disrupted.add(run_id)
        meta = pod.get("metadata") or {}
        goes = meta.get("deletionTimestamp") or states.disruption(pod)
        ended = kind == "DELETED" or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        runtime = str((meta.get("labels") or {}).get(labels.KIND, ""))
        if goes and ended and states.primary(runtime, pod) and not self._kept(run_id, str(meta["uid"])):
            self.to_keep[str(meta["uid"])] = dict(pod)

    def _kept(self, run_id: str, pod_uid: str) -> bool:
        obj = self.object_of(run_id)
        return obj is not None and pod_uid in states.recorded_attempts(obj)

    def take_to_keep(self) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """(run object, its ended pods) to keep on it; the pods of runs whose object is not known wait."""
        found: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        for uid, pod in list(self.to_keep.items()):
            obj = self.object_of(_run_of(pod))
            if obj is None:
                continue
            del self.to_keep[uid]
            if uid not in states.recorded_attempts(obj):
                found.setdefault(obj["metadata"]["uid"], (obj, []))[1].append(pod)
        return list(found.values())

    def _refresh_object(self, run_id: str) -> None:
        obj = self.object_of(run_id)
        if obj is not None:
            self.object_deadlines[obj["metadata"]["uid"]] = states.no_pod_deadline(
                obj, self.gone_at.get(run_id), self.ended[run_id]
            )

    def disruption_breaches(self) -> list[tuple[str, str, str]]:
        """(run id, namespace, status text) of unhandled job runs disrupted more often than their bound allows.

        Only runs whose pods or record changed since the last call are counted again.
        """
        found = []
        for run_id in sorted(self.disrupted):
            obj = self.object_of(run_id)
            if obj is None:
                continue  # counted once its run object is known
            self.disrupted.discard(run_id)
            if run_id in self.handled:
                continue
            pods = [p for p in self.pods.values() if _run_of(p) == run_id]
            text = states.disruption_breach(obj, pods)
            if text:
                found.append((run_id, obj["metadata"]["namespace"], text))
        return found

    def observe_object(self, kind: str, obj: Mapping[str, Any]) -> None:
        uid = obj["metadata"]["uid"]
        if kind == "DELETED":
            self.objects.pop(uid, None)
            self.object_deadlines.pop(uid, None)
        else:
            self.objects[uid] = _slim(obj)
            run_id = _run_of(obj)
            self.object_deadlines[uid] = states.no_pod_deadline(obj, self.gone_at.get(run_id), self.ended[run_id])
            if any(k.startswith(labels.ATTEMPT_PREFIX) for k in (obj["metadata"].get("annotations") or {})):
                self.disrupted.add(run_id)  # kept attempts may hold disruptions whose pods are gone

    def reset_objects(self, kind: str, objects: list[dict[str, Any]], api_version: str = "") -> None:
        """Replace the run objects of one kind (of one API version, if given): each is listed and watched on its own."""
        for uid in [u for u, o in self.objects.items() if _is_of(o, kind, api_version)]:
            self.objects.pop(uid)
            self.object_deadlines.pop(uid, None)
        for obj in objects:
            self.observe_object("ADDED", {**obj, "kind": kind, **({"apiVersion": api_version} if api_version else {})})

    def object_of(self, run_id: str) -> dict[str, Any] | None:
        return next((o for o in self.objects.values() if _run_of(o) == run_id), None)

    def _run_id(self, uid: str) -> str:
        return _run_of(self.pods[uid])

    def _podless(self, uid: str) -> str:
        """The run id of a run object whose run has no pod ("" when it has pods, or no run id)."""
        run_id = _run_of(self.objects[uid])
        return "" if not self.pods_listed or self.pod_count.get(run_id, 0) > 0 else run_id

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
        for uid, deadline in self.object_deadlines.items():
            if deadline is None or deadline > at:
                continue
            run_id = self._podless(uid)
            if not run_id or run_id in self.handled or run_id in found:
                continue
            obj = self.objects[uid]
            text = states.no_pod_breach(obj, at, self.gone_at.get(run_id), self.ended[run_id])
            if text:
                found[run_id] = (run_id, obj["metadata"]["namespace"], text)
        return list(found.values())

    def next_deadline(self) -> datetime | None:
        """The earliest instant an unhandled run breaks a limit (a handled run's is past and stays past)."""
        upcoming = [d for uid, d in self.deadlines.items() if d and self._run_id(uid) not in self.handled]
        for uid, deadline in self.object_deadlines.items():
            run_id = self._podless(uid) if deadline else ""
            if run_id and run_id not in self.handled:
                upcoming.append(deadline)  # type: ignore[arg-type]
        return min(upcoming) if upcoming else None


def _slim(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What the monitor needs of a run object: who it is, its record and limits, its verdict.

    Run objects carry whole pod templates; with hundreds of runs, keeping
    them would make the monitor's memory grow with the runs' specs.
    """
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    annotations = meta.get("annotations") or {}
    return {
        "apiVersion": obj.get("apiVersion", ""),
        "kind": obj.get("kind", ""),
        "metadata": {
            **{k: meta[k] for k in ("name", "namespace", "uid", "creationTimestamp", "labels") if k in meta},
            "annotations": {
                k: v
                for k, v in annotations.items()
                if k in (labels.STATE, labels.THRESHOLDS, labels.RETRY) or k.startswith(labels.ATTEMPT_PREFIX)
            },
        },
        "status": {k: status[k] for k in ("conditions", "applicationState", "terminationTime") if k in status},
    }


def _is_of(obj: Mapping[str, Any], kind: str, api_version: str) -> bool:
    return obj.get("kind") == kind and (not api_version or obj.get("apiVersion") == api_version)


def _run_of(obj: Mapping[str, Any]) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(labels.RUN_ID, ""))


class PodFeed:
    """List, then watch, run pods (or run objects of one kind) in a background thread; events arrive on a queue.

    A run object's events are tagged with its apiVersion and kind
    (``batch/v1 Job:MODIFIED``); a pod's are not. A kind whose CRD is not installed lists as empty and is
    not watched.
    """

    def __init__(
        self,
        cluster: Cluster,
        namespace: str | None,
        selector: str,
        all_namespaces: bool = False,
        kind: tuple[str, str] = kinds.POD.ref(),
        events: queue.Queue[tuple[str, Any]] | None = None,
    ) -> None:
        self.cluster = cluster
        self.namespace = None if all_namespaces else (namespace or cluster.namespace)
        self.selector = selector
        self.api_version, self.kind = kind
        self.tag = "" if self.kind == "Pod" else f"{self.api_version} {self.kind}:"
        self.events: queue.Queue[tuple[str, Any]] = events if events is not None else queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"mlctl-{self.kind.lower()}-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def relist(self) -> str:
        """List the objects (a run object's a page at a time, kept slim as it arrives); the version to watch from."""
        listing = self.cluster.snapshot(
            self.api_version,
            self.kind,
            self.namespace,
            selector=self.selector,
            page_size=OBJECT_PAGE if self.tag else 0,
            keep=self.slim if self.tag else None,
        )
        self.events.put((self.tag + "RESET", listing.items))
        return listing.resource_version

    def slim(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return _slim({**obj, "apiVersion": self.api_version, "kind": self.kind})

    def _run(self) -> None:
        version = ""
        failures = 0
        while not self._stop.is_set():
            try:
                if not version:
                    version = self.relist()
                for event in self.cluster.watch(
                    self.api_version,
                    self.kind,
                    self.namespace,
                    selector=self.selector,
                    resource_version=version,
                    timeout_seconds=60,
                ):
                    if self._stop.is_set():
                        return
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        version = ""  # 410 Gone or similar: start over from a fresh list
                        break
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    if kind != "BOOKMARK":
                        self.events.put((self.tag + str(kind), self.slim(obj) if self.tag else obj))
                failures = 0
            except (errors.NotFound, errors.Forbidden):
                if self.tag:  # this run kind's CRD is not installed, or not ours to watch: no runs of it seen
                    self.events.put((self.tag + "RESET", []))
                    return
                raise
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
        _read_once(cluster, tracker, namespace, selector, all_namespaces)
        _keep_attempts(cluster, tracker)
        _abort_due(cluster, tracker, clock(), on_abort)
        return tracker
    feed = PodFeed(cluster, namespace, selector, all_namespaces)
    feeds = [
        feed,
        *(
            PodFeed(cluster, namespace, selector, all_namespaces, kind=run_kind.ref(), events=feed.events)
            for run_kind in kinds.run_kinds()
        ),
    ]
    for each in feeds:
        each.start()
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
                _apply_event(tracker, kind, payload, on_pod, clock)
                try:
                    kind, payload = feed.events.get_nowait()
                except queue.Empty:
                    kind = ""
            _keep_attempts(cluster, tracker)
            _abort_due(cluster, tracker, clock(), on_abort)
            if done and done(tracker):
                break
    finally:
        for each in feeds:
            each.stop()
    return tracker


def _read_once(cluster: Cluster, tracker: Tracker, namespace: str | None, selector: str, all_namespaces: bool) -> None:
    """Fill the tracker from one list of the pods and one of each kind of run object."""
    tracker.reset(cluster.list(*kinds.POD.ref(), namespace, selector=selector, all_namespaces=all_namespaces))
    for run_kind in kinds.run_kinds():
        try:
            listed = cluster.list(*run_kind.ref(), namespace, selector=selector, all_namespaces=all_namespaces)
        except (errors.NotFound, errors.Forbidden):
            continue  # that CRD (or that version of it) is not installed, or not ours to read
        tracker.reset_objects(run_kind.kind, listed, run_kind.api_version)


def _apply_event(
    tracker: Tracker,
    kind: str,
    payload: Any,
    on_pod: Callable[[str, dict[str, Any]], None] | None,
    clock: Callable[[], datetime] = states.now,
) -> None:
    """One event from the feeds into the tracker (a feed that gave up raises its error here)."""
    if kind == "FAILED":
        raise payload
    if ":" in kind:  # a run object's event
        tag, _, event = kind.partition(":")
        api_version, _, object_kind = tag.partition(" ")
        if event == "RESET":
            tracker.reset_objects(object_kind, payload, api_version)
        else:
            tracker.observe_object(event, {**payload, "kind": object_kind, "apiVersion": api_version})
    elif kind == "RESET":
        tracker.reset(payload)
        for pod in payload:
            on_pod and on_pod("ADDED", pod)
    else:
        tracker.observe(kind, payload, clock())
        on_pod and on_pod(kind, payload)


def _keep_attempts(cluster: Cluster, tracker: Tracker) -> None:
    """Keep on their run objects the attempts whose pods are going (disrupted, deleted), now that they ended."""
    for obj, pods in tracker.take_to_keep():
        try:
            control.keep_attempts(cluster, obj, pods)
        except errors.MlctlError:
            continue  # the record is a courtesy here: a refused write must not stop the monitor


def _abort_due(
    cluster: Cluster, tracker: Tracker, at: datetime, on_abort: Callable[[str, str, str], None] | None
) -> None:
    """Abort every run past a limit; runs breaking their limits together are aborted together.

    A job run disrupted more often than its bound allows is ended the same
    way, recorded as failed.
    """
    due = tracker.breaches(at)
    failing = [b for b in tracker.disruption_breaches() if b[0] not in {d[0] for d in due}]
    due += failing
    for run_id, _, _ in due:
        tracker.handled.add(run_id)

    def abort(breach: tuple[str, str, str]) -> tuple[bool, str]:
        try:
            return _abort_one(breach)
        except errors.Conflict:  # its controller kept writing: the next pass tries again
            tracker.handled.discard(breach[0])
            if breach in failing:
                tracker.disrupted.add(breach[0])
            return False, breach[2]

    def _abort_one(breach: tuple[str, str, str]) -> tuple[bool, str]:
        run_id, namespace, text = breach
        if breach in failing:
            try:
                return control.abort(cluster, run_id, text, namespace, state=record_.FAILED), text
            except errors.NotFound:
                return False, text
        podless = tracker.pod_count.get(run_id, 0) <= 0 and tracker.object_of(run_id)
        if podless:  # say why there is no pod, in the controller's words
            reason = control.no_pod_reason(cluster, podless)
            text += f"; no pod: {reason}" if reason else "; no pod was created"
        try:
            # read why it is stuck before its pods go, and keep that in the record
            return control.abort(cluster, run_id, text, namespace, gather.for_record(cluster, run_id, namespace)), text
        except errors.NotFound:
            return False, text  # the run object is gone: nothing left to abort

    for (run_id, namespace, _), (aborted, text) in zip(due, concurrently(abort, due), strict=True):
        if aborted and on_abort:
            on_abort(run_id, namespace, text)
