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
deleted) is kept on its run object when it ends.

It must stay cheap with thousands of live runs. API calls do not grow with
the number of runs: lists are read a page at a time, watches resume from
the last version seen when their connection drops or times out, and a new
list is read only when the server no longer has that version (410 Gone);
time passing costs nothing, only aborts, kept attempts and reconnects make
requests. CPU does not grow with them either: the deadlines are in a heap,
so a tick looks at the runs that are due, not at every run. Memory holds
a slim copy of each pod and run object (what the thresholds, the record and
an abort read), never a whole pod spec. Aborts run on a pool, many at once,
and runs due together share their reads (a namespace at a time), so a
hundred runs breaking their limits in the same second are all aborted
within a second or so.

Restart-safe: state lives in Kubernetes (timestamps, annotations), not in
the process, so a new monitor reaches the same verdicts; and it finishes an
abort that a killed watcher recorded but did not carry out (its pods left
running), without recording it again.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import queue
import sys
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from mlctl import errors
from mlctl.cluster.client import Cluster
from mlctl.kube import kinds, labels
from mlctl.runs import record as record_
from mlctl.runs import states
from mlctl.runs.cluster import control, gather

RUN_SELECTOR = labels.RUN_ID
PAGE = 500  # objects per list page: neither the server's answer nor this process holds a big list whole
WATCH_SECONDS = 60  # a watch the server ends after this long is resumed where it was
RETRY_PAUSE = 2.0  # seconds before a failed watch is tried again, times the failures in a row (at most 10 s)
ABORTS_AT_ONCE = 32  # aborts in flight together (each a few requests; the connection pool keeps 64)
# how long an abort has to remove its run's pods before a watcher takes it as interrupted and finishes it
ABORT_GRACE = timedelta(seconds=10)
_SOON = timedelta(seconds=0.05)  # a deadline met to the instant is breached just after it

_POD = "pod"
_OBJECT = "object"
K = TypeVar("K", bound=Hashable)


class Deadlines(Generic[K]):
    """Instants by key, earliest first, found without a scan.

    A heap whose outdated entries (a key set again, or cleared) are skipped
    when they come to the top, and dropped all at once when they outnumber
    the live ones, so a pod changing often does not make it grow.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, K]] = []
        self._live: dict[K, tuple[datetime, int]] = {}
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def set(self, key: K, when: datetime | None) -> None:
        """When ``key`` is next due (None: never)."""
        if when is None:
            self._live.pop(key, None)
            return
        entry = (when, next(self._order))
        self._live[key] = entry
        heapq.heappush(self._heap, (*entry, key))
        if len(self._heap) > 2 * len(self._live) + 64:
            self._heap = [(when, order, key) for key, (when, order) in self._live.items()]
            heapq.heapify(self._heap)

    def get(self, key: K) -> datetime | None:
        entry = self._live.get(key)
        return entry[0] if entry else None

    def first(self) -> tuple[datetime, K] | None:
        """The earliest instant and its key (None when nothing is due ever)."""
        while self._heap:
            when, order, key = self._heap[0]
            if self._live.get(key) == (when, order):
                return when, key
            heapq.heappop(self._heap)
        return None

    def pop_due(self, at: datetime) -> list[tuple[datetime, K]]:
        """The keys due at ``at``, earliest first; they are no longer due unless set again."""
        due = []
        while (first := self.first()) is not None and first[0] <= at:
            heapq.heappop(self._heap)
            del self._live[first[1]]
            due.append(first)
        return due


@dataclass
class Tracker:
    """Run pods by uid, when each will break its limit, and which runs have been handled. Pure.

    A pod's deadline is worked out when the pod changes, not on every tick,
    and kept in a heap: with thousands of live runs, re-reading every pod
    twice a second would make an idle monitor's CPU grow with the number of
    runs. Pods and run objects are kept slim (see ``slim_pod`` and ``_slim``).
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
    # kinds of run object to be listed before a run is judged by its pods (whether it has ended is its object's to
    # say: a pod past its limit of a run already recorded aborted is an abort to finish, not one to make)
    object_kinds: int = 0
    kinds_listed: set[tuple[str, str]] = field(default_factory=set)
    gone_at: dict[str, datetime] = field(default_factory=dict)  # run id -> when its last pod went
    ended: Counter[str] = field(default_factory=Counter)  # run id -> how many of its attempts' pods went
    disrupted: set[str] = field(default_factory=set)  # runs whose disruptions to count again against their bound
    to_keep: dict[str, dict[str, Any]] = field(default_factory=dict)  # pod uid -> an ended pod to keep
    # run id -> its pods' uids, and its run object's uid: no scan of every run to find one run's
    run_pods: dict[str, dict[str, None]] = field(default_factory=dict, repr=False)
    run_object: dict[str, str] = field(default_factory=dict, repr=False)
    # (pod or object, uid) -> when it breaks its limit; an object uid -> when to look for what an abort left
    due: Deadlines[tuple[str, str]] = field(default_factory=Deadlines, repr=False)
    leftover_checks: Deadlines[str] = field(default_factory=Deadlines, repr=False)

    def observe(self, kind: str, pod: Mapping[str, Any], at: datetime | None = None) -> None:
        uid = pod["metadata"]["uid"]
        run_id = _run_of(pod)
        self._note(kind, pod)
        if kind == "DELETED":
            if self.pods.pop(uid, None) is not None:
                self.pod_count[run_id] -= 1
                self.run_pods.get(run_id, {}).pop(uid, None)
                runtime = str(((pod.get("metadata") or {}).get("labels") or {}).get(labels.KIND, ""))
                self.ended[run_id] += states.primary(runtime, pod)
                if self.pod_count[run_id] <= 0:
                    self.run_pods.pop(run_id, None)
                    self.gone_at[run_id] = at or states.now()
                    self._refresh_object(run_id)
            self.deadlines.pop(uid, None)
            self.due.set((_POD, uid), None)
        else:
            if uid not in self.pods:
                self.pod_count[run_id] += 1
                self.run_pods.setdefault(run_id, {})[uid] = None
            kept = slim_pod(pod)
            self.pods[uid] = kept
            self.deadlines[uid] = states.deadline(kept)
            self.due.set((_POD, uid), self.deadlines[uid])

    def reset(self, pods: list[dict[str, Any]]) -> None:
        self.pods = {p["metadata"]["uid"]: slim_pod(p) for p in pods}
        self.deadlines = {uid: states.deadline(p) for uid, p in self.pods.items()}
        self.pod_count = Counter(_run_of(p) for p in pods)
        self.run_pods = {}
        for uid, pod in self.pods.items():
            self.run_pods.setdefault(_run_of(pod), {})[uid] = None
        self.pods_listed = True
        self._reschedule()  # which runs have a pod may have changed
        for pod in pods:
            self._note("ADDED", pod)

    def _reschedule(self) -> None:
        """Every deadline anew, from what is known now."""
        self.due = Deadlines[tuple[str, str]]()
        for uid, deadline in self.deadlines.items():
            self.due.set((_POD, uid), deadline)
        for uid, deadline in self.object_deadlines.items():
            self.due.set((_OBJECT, uid), deadline)
        for uid, obj in self.objects.items():
            self.leftover_checks.set(uid, _leftover_check(obj))

    @property
    def objects_listed(self) -> bool:
        return len(self.kinds_listed) >= self.object_kinds

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
            self.to_keep[str(meta["uid"])] = slim_pod(pod)

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
            uid = obj["metadata"]["uid"]
            deadline = states.no_pod_deadline(obj, self.gone_at.get(run_id), self.ended[run_id])
            self.object_deadlines[uid] = deadline
            self.due.set((_OBJECT, uid), deadline)

    def pods_of(self, run_id: str) -> list[dict[str, Any]]:
        return [self.pods[uid] for uid in self.run_pods.get(run_id, {}) if uid in self.pods]

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
            text = states.disruption_breach(obj, self.pods_of(run_id))
            if text:
                found.append((run_id, obj["metadata"]["namespace"], text))
        return found

    def observe_object(self, kind: str, obj: Mapping[str, Any]) -> None:
        uid = obj["metadata"]["uid"]
        if kind == "DELETED":
            gone = self.objects.pop(uid, None)
            self.object_deadlines.pop(uid, None)
            self.due.set((_OBJECT, uid), None)
            self.leftover_checks.set(uid, None)
            run_id = _run_of(gone or obj)
            if self.run_object.get(run_id) == uid:
                del self.run_object[run_id]
        else:
            kept = _slim(obj)
            self.objects[uid] = kept
            run_id = _run_of(obj)
            self.run_object[run_id] = uid
            deadline = states.no_pod_deadline(kept, self.gone_at.get(run_id), self.ended[run_id])
            self.object_deadlines[uid] = deadline
            self.due.set((_OBJECT, uid), deadline)
            self.leftover_checks.set(uid, _leftover_check(kept))
            if any(k.startswith(labels.ATTEMPT_PREFIX) for k in (obj["metadata"].get("annotations") or {})):
                self.disrupted.add(run_id)  # kept attempts may hold disruptions whose pods are gone

    def reset_objects(self, kind: str, objects: list[dict[str, Any]], api_version: str = "") -> None:
        """Replace the run objects of one kind (of one API version, if given): each is listed and watched on its own."""
        for obj in [o for o in self.objects.values() if _is_of(o, kind, api_version)]:
            self.observe_object("DELETED", obj)
        for obj in objects:
            self.observe_object("ADDED", {**obj, "kind": kind, **({"apiVersion": api_version} if api_version else {})})
        if (kind, api_version) not in self.kinds_listed:
            self.kinds_listed.add((kind, api_version))
            if len(self.kinds_listed) == self.object_kinds:
                self._reschedule()  # the pods' deadlines put aside until now

    def object_of(self, run_id: str) -> dict[str, Any] | None:
        uid = self.run_object.get(run_id)
        return self.objects.get(uid) if uid is not None else None

    def _over(self, run_id: str) -> bool:
        obj = self.object_of(run_id)
        return obj is not None and states.object_state(obj) in record_.TERMINAL

    def _podless(self, uid: str) -> str:
        """The run id of a run object whose run has no pod ("" when it has pods, or no run id)."""
        run_id = _run_of(self.objects[uid])
        return "" if not self.pods_listed or self.pod_count.get(run_id, 0) > 0 else run_id

    def _subject(self, key: tuple[str, str]) -> tuple[str, Mapping[str, Any] | None]:
        """The run id a deadline is about and its pod or podless run object (None: nothing to judge now)."""
        what, uid = key
        if what == _POD:
            pod = self.pods.get(uid)
            run_id = _run_of(pod) if pod is not None else ""
            if not run_id or run_id in self.handled or not self.objects_listed or self._over(run_id):
                return run_id, None  # an ended run has nothing to abort (what an abort left is for ``leftovers``)
            return run_id, pod
        obj = self.objects.get(uid)
        run_id = self._podless(uid) if obj is not None else ""
        # a run with a pod is judged by its pods: its object's deadline is set again when the last one goes
        return run_id, obj if run_id and run_id not in self.handled else None

    def breaches(self, at: datetime) -> list[tuple[str, str, str]]:
        """(run id, namespace, status text) of unhandled runs past a limit, the earliest past it first.

        A run stays in the answer until it is handled.
        """
        found: dict[str, tuple[str, str, str]] = {}
        for when, key in self.due.pop_due(at):
            run_id, subject = self._subject(key)
            if subject is None:
                continue
            if run_id in found:
                self.due.set(key, when)
                continue
            if key[0] == _POD:
                text = states.breach(subject, at)
            else:
                text = states.no_pod_breach(subject, at, self.gone_at.get(run_id), self.ended[run_id])
            if text:
                found[run_id] = (run_id, subject["metadata"]["namespace"], text)
                self.due.set(key, when)
            else:
                self.due.set(key, at + _SOON)  # met to the instant: past it a moment later
        return list(found.values())

    def leftovers(self, at: datetime) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """(run object, its pods) of unhandled runs recorded aborted a while ago whose pods still run or are held."""
        found = []
        for _, uid in self.leftover_checks.pop_due(at):
            obj = self.objects.get(uid)
            if obj is None or not self.pods_listed:
                continue  # looked at again once the pods are listed
            run_id = _run_of(obj)
            pods = self.pods_of(run_id)
            if run_id in self.handled or not any(_left_behind(p) for p in pods):
                continue
            found.append((obj, pods))
        return found

    def next_deadline(self) -> datetime | None:
        """The earliest instant an unhandled run breaks a limit, or an abort is looked at for what it left."""
        upcoming = None
        while (first := self.due.first()) is not None:
            if self._subject(first[1])[1] is not None:
                upcoming = first[0]
                break
            self.due.set(first[1], None)  # handled, or a run with pods: set again if that changes
        check = self.leftover_checks.first()
        if check is not None and (upcoming is None or check[0] < upcoming):
            return check[0]
        return upcoming


def slim_pod(pod: Mapping[str, Any]) -> dict[str, Any]:
    """What the monitor needs of a pod: who it is, its thresholds, its state and how its attempt went.

    A pod's spec (containers, environment, volumes), its managed fields and
    most of its labels and conditions are the bulk of it; with thousands of
    runs, keeping them would make the monitor's memory grow with the runs'
    specs. Texts many pods share (a namespace, a node, a function's
    thresholds, a timestamp) are kept once.
    """
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    kept_meta = {k: _shared(meta[k]) if k in _SHARED else meta[k] for k in _POD_METADATA if k in meta}
    kept_meta["labels"] = _some(meta.get("labels"), _POD_LABELS)
    kept_meta["annotations"] = _some(meta.get("annotations"), _POD_ANNOTATIONS)
    if meta.get("finalizers"):
        kept_meta["finalizers"] = [_shared(f) for f in meta["finalizers"]]
    kept_status = {k: _shared(status[k]) for k in _POD_STATUS if k in status}
    conditions = [c for c in status.get("conditions") or [] if c.get("type") in states.POD_CONDITIONS]
    if conditions:
        kept_status["conditions"] = [_some(c, _CONDITION) for c in conditions]
    for key in ("initContainerStatuses", "containerStatuses"):
        if key in status:
            kept_status[key] = [
                {k: _shared(c[k]) if k == "name" else c[k] for k in ("name", "state", "restartCount") if k in c}
                for c in status[key] or []
            ]
    node = (pod.get("spec") or {}).get("nodeName")
    return {"metadata": kept_meta, "spec": {"nodeName": _shared(node)} if node else {}, "status": kept_status}


_POD_METADATA = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp")
_SHARED = frozenset({"namespace", "creationTimestamp", "deletionTimestamp"})  # names, uids: one pod's own
_POD_LABELS = frozenset({labels.RUN_ID, labels.KIND, *states.ROLE_LABELS})
_POD_ANNOTATIONS = frozenset(
    {labels.THRESHOLDS, labels.RETRY, labels.JOB_INDEX_FAILURES, labels.JOB_INDEX_IGNORED_FAILURES}
)
_POD_STATUS = ("phase", "reason", "message", "startTime")
_CONDITION = frozenset({"type", "status", "reason", "message", "lastTransitionTime"})
_OBJECT_METADATA = ("name", "namespace", "uid", "creationTimestamp")
_OBJECT_LABELS = frozenset({labels.RUN_ID, labels.KIND, labels.FUNCTION, labels.PROJECT, labels.MANAGED_BY})


def _some(found: Mapping[str, Any] | None, keys: frozenset[str]) -> dict[str, Any]:
    """The entries of ``found`` under ``keys``, their texts kept once."""
    return {_shared(k): _shared(v) for k, v in (found or {}).items() if k in keys}


def _shared(value: Any) -> Any:
    """A text as one copy shared by every object holding it (other values as they are)."""
    return sys.intern(value) if isinstance(value, str) else value


def _slim(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What the monitor needs of a run object: who it is, its record and limits, its verdict.

    Run objects carry whole pod templates; with thousands of runs, keeping
    them would make the monitor's memory grow with the runs' specs.
    """
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    annotations = meta.get("annotations") or {}
    return {
        "apiVersion": _shared(obj.get("apiVersion", "")),
        "kind": _shared(obj.get("kind", "")),
        "metadata": {
            **{k: _shared(meta[k]) if k in _SHARED else meta[k] for k in _OBJECT_METADATA if k in meta},
            "labels": _some(meta.get("labels"), _OBJECT_LABELS),
            "annotations": {
                k: _shared(v)
                for k, v in annotations.items()
                if k in (labels.STATE, labels.FINISHED, labels.THRESHOLDS, labels.RETRY)
                or k.startswith(labels.ATTEMPT_PREFIX)
            },
        },
        "status": {k: status[k] for k in ("conditions", "applicationState", "terminationTime") if k in status},
    }


def _leftover_check(obj: Mapping[str, Any]) -> datetime | None:
    """When to look at an aborted run for pods its abort left (None: not aborted)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if annotations.get(labels.STATE) != record_.ABORTED:
        return None
    try:
        finished = states.parse_time(annotations.get(labels.FINISHED))
    except ValueError:
        finished = None
    return (finished or states.now()) + ABORT_GRACE


def _left_behind(pod: Mapping[str, Any]) -> bool:
    """A pod an abort should have removed: still going, or deleted but held by the Job controller's finalizer."""
    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return labels.JOB_TRACKING_FINALIZER in (meta.get("finalizers") or [])
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def _is_of(obj: Mapping[str, Any], kind: str, api_version: str) -> bool:
    return obj.get("kind") == kind and (not api_version or obj.get("apiVersion") == api_version)


def _run_of(obj: Mapping[str, Any]) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(labels.RUN_ID, ""))


class _Gone(Exception):
    """The server no longer has the version a watch asked to resume from (410 Gone): list again."""


class PodFeed:
    """List, then watch, run pods (or run objects of one kind) in a background thread; events arrive on a queue.

    A run object's events are tagged with its apiVersion and kind
    (``batch/v1 Job:MODIFIED``); a pod's are not. A kind whose CRD is not installed lists as empty and is
    not watched. Objects are slimmed as they arrive. A watch that ends (the
    server's timeout, a dropped connection, an error) is resumed from the
    last version seen; only a 410 Gone makes it list again.
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
        self.version = ""  # the last resourceVersion seen; "" until listed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"mlctl-{self.kind.lower()}-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def relist(self) -> str:
        """List the objects a page at a time, kept slim as they arrive; the version to watch from."""
        listing = self.cluster.pages(self.api_version, self.kind, self.namespace, self.selector, limit=PAGE)
        items = [self.slim(item) for item in listing]
        self.events.put((self.tag + "RESET", items))
        return listing.resource_version

    def slim(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        if not self.tag:
            return slim_pod(obj)
        return _slim({**obj, "apiVersion": self.api_version, "kind": self.kind})

    def _follow(self) -> None:
        """Pass on the events of one watch from ``version`` until the server ends it."""
        for event in self.cluster.watch(
            self.api_version,
            self.kind,
            self.namespace,
            selector=self.selector,
            resource_version=self.version,
            timeout_seconds=WATCH_SECONDS,
        ):
            if self._stop.is_set():
                return
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":  # the server ends the watch with a Status
                if obj.get("code") == 410:
                    raise _Gone
                raise errors.ClusterError(f"the watch of {self.kind} ended: {obj.get('message') or obj}")
            self.version = str((obj.get("metadata") or {}).get("resourceVersion") or self.version)
            if kind != "BOOKMARK":
                self.events.put((self.tag + str(kind), self.slim(obj)))

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if not self.version:
                    self.version = self.relist()
                self._follow()
                failures = 0
                continue
            except _Gone:
                self.version = ""
                continue
            except (errors.NotFound, errors.Forbidden) as exc:
                if self.tag:  # this run kind's CRD is not installed, or not ours to watch: no runs of it seen
                    self.events.put((self.tag + "RESET", []))
                    return
                self.events.put(("FAILED", exc))
                return
            except errors.MlctlError as exc:
                if isinstance(exc, errors.ClusterError) and exc.status == 410:
                    self.version = ""  # a list's continue token, or a watch's version, too old: list again
                    continue
                failures += 1
                if failures >= 5:
                    self.events.put(("FAILED", exc))
                    return
            # resumed from the last version seen, after a pause that grows with the failures in a row
            self._stop.wait(min(RETRY_PAUSE * failures, 10.0))


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
    tracker = Tracker(object_kinds=0 if once else len(kinds.run_kinds()))
    aborts = Aborts(cluster, tracker, on_abort)
    if once:
        _read_once(cluster, tracker, namespace, selector, all_namespaces)
        _keep_attempts(cluster, tracker)
        aborts.start(clock())
        aborts.close()
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
            aborts.start(clock())
            aborts.report()
            if done and done(tracker):
                break
    except BaseException:
        aborts.close(report=False)
        raise
    else:
        aborts.close()
    finally:
        for each in feeds:
            each.stop()
    return tracker


def _read_once(cluster: Cluster, tracker: Tracker, namespace: str | None, selector: str, all_namespaces: bool) -> None:
    """Fill the tracker from one list of the pods and one of each kind of run object, a page at a time."""
    where = None if all_namespaces else (namespace or cluster.namespace)
    tracker.reset([slim_pod(p) for p in cluster.pages(*kinds.POD.ref(), where, selector, limit=PAGE)])
    for run_kind in kinds.run_kinds():
        try:
            listed = [_slim(o) for o in cluster.pages(*run_kind.ref(), where, selector, limit=PAGE)]
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


Breach = tuple[str, str, str]  # run id, namespace, status text
Later = Callable[[Callable[[], None]], None]  # takes what to do once every record started with it is written


@dataclass
class _Started:
    """One abort in flight: its record, then what follows it (the removal of its pods, its explanation)."""

    breach: Breach
    record: Future[tuple[bool, str]] | None = None
    after: list[Future[None]] = field(default_factory=list)

    def done(self) -> bool:
        return self.record is not None and self.record.done() and all(f.done() for f in self.after)


class Aborts:
    """The aborts in flight, up to ``ABORTS_AT_ONCE`` at a time, started as soon as their runs are due.

    Runs due together are aborted as one batch: what their aborts read
    (objects, pods, events, quotas) is read once per namespace for all, and
    first; each run's record is written before any run's pods are removed
    (the pool takes work in order), so the last record of a hundred is not
    held back by the deletes of the others. The loop goes on watching
    meanwhile. What each ended with is reported from the loop's own thread
    (``report``), in the order they were started; the first error met is
    raised there, as a failed abort would have stopped the loop.
    """

    def __init__(
        self, cluster: Cluster, tracker: Tracker, on_abort: Callable[[str, str, str], None] | None = None
    ) -> None:
        self.cluster = cluster
        self.tracker = tracker
        self.on_abort = on_abort
        self._pool: ThreadPoolExecutor | None = None
        self._started: list[_Started] = []

    def start(self, at: datetime) -> None:
        """Start aborting every run past a limit at ``at``; finish the aborts others left undone.

        A job run disrupted more often than its bound allows is ended the
        same way, recorded as failed.
        """
        tracker = self.tracker
        due = tracker.breaches(at)
        failing = [b for b in tracker.disruption_breaches() if b[0] not in {d[0] for d in due}]
        leftovers = tracker.leftovers(at)
        for run_id, _, _ in [*due, *failing]:
            tracker.handled.add(run_id)
        if due:
            shared = gather.Shared(self.cluster, [(run_id, namespace) for run_id, namespace, _ in due])
            for namespace in shared.wanted:
                self._executor().submit(shared.prefetch, namespace)
            for breach in due:
                # read here, in the loop's thread: the tracker is not for the pool's threads to read
                podless = tracker.object_of(breach[0]) if tracker.pod_count.get(breach[0], 0) <= 0 else None
                self._submit(breach, functools.partial(_abort, self.cluster, breach, podless, shared))
        for breach in failing:
            self._submit(breach, functools.partial(_fail, self.cluster, breach))
        for obj, pods in leftovers:
            run_id = _run_of(obj)
            tracker.handled.add(run_id)
            breach = (run_id, obj["metadata"]["namespace"], "")
            self._submit(breach, functools.partial(_finish_abort, self.cluster, obj, pods))

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=ABORTS_AT_ONCE, thread_name_prefix="mlctl-abort")
        return self._pool

    def _submit(self, breach: Breach, work: Callable[[Later], tuple[bool, str]]) -> None:
        started = _Started(breach)

        def later(step: Callable[[], None]) -> None:
            try:
                started.after.append(self._executor().submit(step))
            except RuntimeError:  # the pool is closing (the loop ends with an error): now, then
                step()

        started.record = self._executor().submit(work, later)
        self._started.append(started)

    def report(self, wait: bool = False) -> None:
        """Say which aborts have ended (``wait``: once all have), in the order they started."""
        error: BaseException | None = None
        while self._started and (wait or self._started[0].done()):
            started = self._started.pop(0)
            run_id, namespace, _ = started.breach
            try:
                assert started.record is not None
                aborted, text = started.record.result()
                for step in started.after:
                    step.result()
            except errors.Conflict:  # its controller kept writing the run object: the next pass tries again
                self.tracker.handled.discard(run_id)
                self.tracker.disrupted.add(run_id)  # a disruption breach is looked at again too
                continue
            except BaseException as exc:  # raised once every abort so far has been reported
                error = error or exc
                continue
            if aborted and self.on_abort:
                self.on_abort(run_id, namespace, text)
        if error is not None:
            raise error

    def close(self, report: bool = True) -> None:
        """Wait for the aborts in flight; report them unless the loop is ending with an error of its own."""
        try:
            if report:
                self.report(wait=True)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            self._started.clear()


def _abort(
    cluster: Cluster, breach: Breach, podless: Mapping[str, Any] | None, shared: gather.Shared, later: Later
) -> tuple[bool, str]:
    """Abort one run past a threshold, and keep in its record why it was stuck.

    What it reads is read once for all the runs aborted with it (``shared``):
    their objects, pods and events a namespace at a time. The record is
    written as soon as the run's object and pods are in; why it was stuck
    follows, worked out from the pods as they were read before the abort
    (and their events, which stay once the pods are gone). A run with a pod
    that crashed is explained first, in its record: its logs go with it.
    """
    run_id, namespace, text = breach
    if podless:  # say why there is no pod, in the controller's words
        reason = shared.no_pod_reason(podless)
        text += f"; no pod: {reason}" if reason else "; no pod was created"
    found, pods = shared.subjects(run_id, namespace)
    if found is None:
        return False, text  # the run object is gone: nothing left to abort
    obj, runtime = found

    def explanation() -> str:
        return gather.for_record(cluster, run_id, namespace, seen=(obj, pods), shared=shared)

    first = explanation() if gather.reads_logs(pods) else ""
    try:
        aborted = control.abort(cluster, run_id, text, namespace, first, seen=(obj, runtime, pods), stop_later=later)
    except errors.NotFound:
        return False, text
    if aborted and not first:
        later(lambda: control.keep_explanation(cluster, obj, explanation()))
    return aborted, text


def _fail(cluster: Cluster, breach: Breach, later: Later) -> tuple[bool, str]:
    """End a job run disrupted more often than its bound allows, recorded as failed."""
    run_id, namespace, text = breach
    try:
        return control.abort(cluster, run_id, text, namespace, state=record_.FAILED, stop_later=later), text
    except errors.NotFound:
        return False, text


def _finish_abort(
    cluster: Cluster, obj: Mapping[str, Any], pods: list[dict[str, Any]], _later: Later
) -> tuple[bool, str]:
    """Remove the pods an interrupted abort left; the run's record already says it was aborted."""
    control.stop_leftovers(cluster, obj, pods)
    return False, ""
