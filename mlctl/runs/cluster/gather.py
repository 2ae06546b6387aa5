"""Read what ``mlctl.runs.explain`` needs about one run, through ``mlctl.cluster``.

The run's pods (by its run-id label, or a deployed function's pods by the
function label), their events and the run object's, and, only when a pod
waits for a node, the nodes and what is requested on them. Quotas, claims,
service accounts and priority classes are read too. Reads go out together;
a read the identity may not make (a user who may only read pods and events)
is listed as not read instead of failing the explanation.

Also the two places a run explains itself without being asked: once when
``mlctl run`` has watched a run pending for long, and into the record of a
run aborted by a threshold.
"""

from __future__ import annotations

import collections
import contextlib
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mlctl import errors
from mlctl.cluster.client import Cluster, Pages, concurrently
from mlctl.config import Config
from mlctl.kube import kinds, labels
from mlctl.runs import explain, states
from mlctl.runs import record as record_
from mlctl.runs.cluster import control
from mlctl.spec import durations
from mlctl.spec import state_thresholds as state_thresholds_

LOG_LINES = 20
FEW_RUNS = 5  # runs of a namespace whose objects' events are asked for one by one, rather than all its events read


class _Reads:
    """Reads that may be refused: the value, or None and a note of what could not be read."""

    def __init__(self) -> None:
        self.unreadable: list[str] = []
        self._lock = threading.Lock()

    def attempt(self, what: str, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except errors.NotFound:
            return []
        except errors.MlctlError as exc:
            reason = "forbidden" if isinstance(exc, errors.Forbidden) else exc.message
            with self._lock:
                self.unreadable.append(f"{what} ({reason})")
            return None


def _templates(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = obj.get("spec") or {}
    if "template" in spec:  # Job, Deployment
        return [(spec["template"] or {}).get("spec") or {}]
    replicas = spec.get("mpiReplicaSpecs") or {}
    return [((r or {}).get("template") or {}).get("spec") or {} for r in replicas.values()]


def facts(
    cluster: Cluster,
    run_id: str,
    namespace: str | None = None,
    config: Config | None = None,
    spec_file: str = "",
    seen: tuple[Mapping[str, Any], Sequence[dict[str, Any]]] | None = None,
    shared: Shared | None = None,
) -> explain.Facts:
    """What there is to know about a run.

    ``seen``: its run object and pods, just read by the caller. ``shared``:
    the reads of the runs explained together (see ``Shared``).
    """
    reads = _Reads()
    ns = namespace or cluster.namespace
    owners, pods = ([seen[0]], list(seen[1])) if seen else _subjects(cluster, reads, run_id, ns)
    jobs = _reads_around(cluster, reads, ns, owners, pods, shared)
    keys = list(jobs)
    if shared is None:
        results = dict(zip(keys, concurrently(lambda key: jobs[key](), keys), strict=True))
    else:  # read already, or being read for all: no threads of its own
        results = {key: jobs[key]() for key in keys}
    config = config or Config({})
    return explain.Facts(
        run_id=run_id,
        namespace=ns,
        pods=pods,
        events=results.get("events") or [],
        templates=[t for o in owners for t in _templates(o)],
        nodes=results.get("nodes"),
        node_requests=results.get("node_requests"),
        quotas=results.get("quotas"),
        claims=results.get("claims"),
        service_accounts=results.get("service_accounts"),
        priority_classes=results.get("priority_classes"),
        logs=results.get("logs") or {},
        spec_file=spec_file,
        preemption_mode=config.default_preemption_mode,
        profile_selector=config.preemptible_node_selector,
        profile_tolerations=tuple(config.preemptible_tolerations),
        unreadable=tuple(reads.unreadable),
    )


def _subjects(
    cluster: Cluster, reads: _Reads, run_id: str, ns: str
) -> tuple[list[Mapping[str, Any]], list[dict[str, Any]]]:
    """The objects that own the run's pods (its run object, or a function's Deployments), and the pods."""
    found = reads.attempt("the run object (Job, MPIJob, SparkApplication)", lambda: control.find(cluster, run_id, ns))
    owners: list[Mapping[str, Any]] = [found[0]] if found else []
    pods = reads.attempt("pods", lambda: control.pods_of(cluster, run_id, ns)) or []
    if not found and not pods:  # a deployed function (serving, Dask): its pods carry the function label
        selector = f"{labels.FUNCTION}={run_id}"
        pods = reads.attempt("pods", lambda: cluster.list(*kinds.POD.ref(), ns, selector=selector)) or []
        owners += (
            reads.attempt("deployments", lambda: cluster.list(*kinds.DEPLOYMENT.ref(), ns, selector=selector)) or []
        )
    return owners, pods


def _reads_around(
    cluster: Cluster,
    reads: _Reads,
    ns: str,
    owners: list[Mapping[str, Any]],
    pods: list[dict[str, Any]],
    shared: Shared | None = None,
) -> dict[str, Callable[[], Any]]:
    """What else to read, by the name of the fact it gives: more when there is no pod, or a pod waits for a node.

    With ``shared``, what other runs' explanations read too (a namespace's events, claims, quotas, service
    accounts; the cluster's nodes, priority classes and what is requested on each node) is read once for all.
    """
    waiting = any(not (p.get("spec") or {}).get("nodeName") for p in pods)
    troubled = [p for p in pods if _crashed(p)]
    involved = [(_name(p), "Pod") for p in pods] + [(_name(o), str(o.get("kind", ""))) for o in owners]
    once = shared.once if shared is not None else lambda _key, read: read()

    def events() -> list[dict[str, Any]]:
        if shared is None:
            return _events_about(cluster, ns, involved)
        return [e for e in shared.events(ns) if _involved(e) in set(involved)]

    def tail(pod: Mapping[str, Any]) -> tuple[str, list[str]]:
        lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        with contextlib.suppress(errors.MlctlError):  # a pod that never started has no logs
            lines.extend(cluster.logs(_name(pod), ns))
        return _name(pod), list(lines)

    def node_requests() -> dict[str, dict[str, Any]]:
        # a page at a time: every running pod of the cluster is read, only the sums are kept
        bound = Pages(cluster, *kinds.POD.ref(), None, limit=500, field_selector=_BOUND)
        return explain.requested_on_nodes(bound)

    def read(what: str, key: tuple[str, ...], reader: Callable[[], Any]) -> Callable[[], Any]:
        """A read that may be refused (noted as not read), shared with the other runs' when there are some."""
        return lambda: reads.attempt(what, lambda: once(key, reader))

    jobs: dict[str, Callable[[], Any]] = {
        "events": lambda: reads.attempt("events", events),
        "logs": lambda: dict(concurrently(tail, troubled)),
        "claims": read("persistent volume claims", ("claims", ns), lambda: _claims(cluster, ns)),
        "quotas": read("resource quotas", ("quotas", ns), lambda: _quotas(cluster, ns)),
    }
    if not pods:
        jobs["service_accounts"] = read(
            "service accounts", ("service_accounts", ns), lambda: _names(cluster, "ServiceAccount", ns)
        )
        jobs["priority_classes"] = read(
            "priority classes",
            ("priority_classes",),
            lambda: [_name(p) for p in cluster.list(*kinds.PRIORITY_CLASS.ref())],
        )
    if waiting:
        jobs["nodes"] = read("nodes", ("nodes",), lambda: cluster.list(*kinds.NODE.ref()))
        jobs["node_requests"] = read(
            "pods of other namespaces (what is requested on each node)", ("node_requests",), node_requests
        )
    return jobs


def _claims(cluster: Cluster, ns: str) -> list[str]:
    return _names(cluster, "PersistentVolumeClaim", ns)


def _quotas(cluster: Cluster, ns: str) -> list[dict[str, Any]]:
    return cluster.list(*kinds.RESOURCE_QUOTA.ref(), ns)


_BOUND = "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed"  # pods that hold what they request


def _events_about(cluster: Cluster, ns: str, involved: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """The events of each (name, kind), asked for one by one."""

    def of(target: tuple[str, str]) -> list[dict[str, Any]]:
        name, kind = target
        return cluster.list(
            *kinds.EVENT.ref(), ns, field_selector=f"involvedObject.name={name},involvedObject.kind={kind}"
        )

    return [e for group in concurrently(of, involved) for e in group]


def _involved(event: Mapping[str, Any]) -> tuple[str, str]:
    about = event.get("involvedObject") or {}
    return str(about.get("name", "")), str(about.get("kind", ""))


class Shared:
    """Reads that the explanations of runs aborted together share, each made once, by whichever asks first.

    The runs and pods of each namespace the runs are in (a label selector of
    their ids), the events of those objects (a namespace's events, a page at
    a time, keeping theirs), a namespace's claims, quotas and service
    accounts; the cluster's nodes, priority classes and what is requested on
    each node. A hundred runs stuck at once cost a few reads per namespace,
    not a dozen per run. A read that failed fails the same way for each.
    """

    def __init__(self, cluster: Cluster, runs: Sequence[tuple[str, str]]) -> None:
        self.cluster = cluster
        self.wanted: dict[str, list[str]] = {}
        for run_id, namespace in runs:
            self.wanted.setdefault(namespace, []).append(run_id)
        self._lock = threading.Lock()
        self._locks: dict[tuple[str, ...], threading.Lock] = {}
        self._read: dict[tuple[str, ...], tuple[Any, errors.MlctlError | None]] = {}

    def once(self, key: tuple[str, ...], read: Callable[[], Any]) -> Any:
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._read:
                try:
                    self._read[key] = (read(), None)
                except errors.MlctlError as exc:
                    self._read[key] = (None, exc)
        value, error = self._read[key]
        if error is not None:
            raise error
        return value

    def prefetch(self, namespace: str) -> None:
        """Read, all at once, what the runs in ``namespace`` will ask for: their objects, pods and events, the
        claims and the quotas. A read that fails is kept failed for the runs to meet."""

        def quietly(read: Callable[[], Any]) -> None:
            with contextlib.suppress(errors.MlctlError):
                read()

        concurrently(
            quietly,
            [
                lambda: self.once(("runs", namespace), lambda: self._runs(namespace)),
                lambda: self.once(("pods", namespace), lambda: self._pods(namespace)),
                lambda: self.events(namespace),
                lambda: self.once(("claims", namespace), lambda: _claims(self.cluster, namespace)),
                lambda: self.once(("quotas", namespace), lambda: _quotas(self.cluster, namespace)),
            ],
        )

    def subjects(self, run_id: str, namespace: str) -> tuple[tuple[dict[str, Any], str] | None, list[dict[str, Any]]]:
        """The run object of ``run_id`` and its runtime (None: not found), and its pods."""
        found: dict[str, tuple[dict[str, Any], str]] = self.once(("runs", namespace), lambda: self._runs(namespace))
        pods: dict[str, list[dict[str, Any]]] = self.once(("pods", namespace), lambda: self._pods(namespace))
        return found.get(run_id), pods.get(run_id, [])

    def config(self) -> Config:
        config: Config = self.once(("config",), _config)
        return config

    def events(self, namespace: str) -> list[dict[str, Any]]:
        """The events of the runs' objects and pods in ``namespace``.

        For a few runs, each object's events are asked for; for more, the
        namespace's are read a page at a time and theirs kept (the server
        looks through them all for either question).
        """

        def involved() -> set[tuple[str, str]]:
            about: set[tuple[str, str]] = set()
            for run_id in self.wanted.get(namespace, []):
                found, pods = self.subjects(run_id, namespace)
                about |= {(_name(p), "Pod") for p in pods}
                if found is not None:
                    about.add((_name(found[0]), str(found[0].get("kind", ""))))
            return about

        def read() -> list[dict[str, Any]]:
            run_ids = self.wanted.get(namespace, [])
            if len(run_ids) < FEW_RUNS:
                return _events_about(self.cluster, namespace, sorted(involved()))
            # read beside the runs' objects and pods, not after them: while the pages come, the events kept are
            # those about objects named after one of the runs (as mlctl names run objects, and their
            # controllers their pods), then those about the runs' very objects
            named = re.compile("|".join(re.escape(run_id) for run_id in sorted(set(run_ids))))
            listing = Pages(self.cluster, *kinds.EVENT.ref(), namespace, limit=500)
            candidates = [e for e in listing if named.search(_involved(e)[0])]
            about = involved()
            return [e for e in candidates if _involved(e) in about]

        events: list[dict[str, Any]] = self.once(("events", namespace), read)
        return events

    def no_pod_reason(self, obj: Mapping[str, Any]) -> str:
        """``control.no_pod_reason`` from the events read for all: why the run object's controller made no pod."""
        meta = obj["metadata"]
        try:
            events = self.events(meta["namespace"])
        except (errors.Forbidden, errors.NotFound):
            return ""  # events are an explanation, not the record
        return states.failed_create(e for e in events if (e.get("involvedObject") or {}).get("uid") == meta["uid"])

    def _selectors(self, namespace: str) -> list[str]:
        ids = sorted(set(self.wanted.get(namespace, [])))
        return [f"{labels.RUN_ID} in ({','.join(ids[i : i + 100])})" for i in range(0, len(ids), 100)]

    def _runs(self, namespace: str) -> dict[str, tuple[dict[str, Any], str]]:
        """Each run's object, looked for kind by kind as ``control.find`` looks (and no further once all are found)."""
        found: dict[str, tuple[dict[str, Any], str]] = {}
        for runtime, family in kinds.RUNS.items():
            for kind in family:
                if len(found) == len(set(self.wanted[namespace])):
                    return found
                try:
                    for selector in self._selectors(namespace):
                        for obj in self.cluster.list(*kind.ref(), namespace, selector=selector):
                            found.setdefault(obj["metadata"]["labels"][labels.RUN_ID], (obj, runtime))
                except errors.NotFound:
                    continue  # that CRD, or that version of it, is not installed
        return found

    def _pods(self, namespace: str) -> dict[str, list[dict[str, Any]]]:
        pods: dict[str, list[dict[str, Any]]] = {}
        for selector in self._selectors(namespace):
            for pod in self.cluster.list(*kinds.POD.ref(), namespace, selector=selector):
                pods.setdefault(pod["metadata"]["labels"][labels.RUN_ID], []).append(pod)
        return pods


def run(
    cluster: Cluster,
    run_id: str,
    namespace: str | None = None,
    config: Config | None = None,
    spec_file: str = "",
    seen: tuple[Mapping[str, Any], Sequence[dict[str, Any]]] | None = None,
    shared: Shared | None = None,
) -> explain.Explanation:
    """Why the run is where it is (``mlctl runs explain``)."""
    return explain.explain(facts(cluster, run_id, namespace, config, spec_file, seen, shared))


def for_record(
    cluster: Cluster,
    run_id: str,
    namespace: str | None = None,
    seen: tuple[Mapping[str, Any], Sequence[dict[str, Any]]] | None = None,
    shared: Shared | None = None,
) -> str:
    """The explanation as kept in an aborted run's record; empty when it cannot be worked out.

    ``seen``: the run object and its pods, as the caller (an abort) has just read them; ``shared``: the reads
    of the runs aborted with it.
    """
    try:
        config = shared.config() if shared is not None else _config()
        return explain.record_text(run(cluster, run_id, namespace, config, seen=seen, shared=shared))
    except errors.MlctlError:
        return ""


def explain_when_pending(
    cluster: Cluster, run_id: str, namespace: str, config: Config, spec_file: str, say: Callable[[list[str]], None]
) -> threading.Event:
    """Explain once, through ``say``, if the run is still pending after a while; set the event to stop."""
    stop = threading.Event()
    started = time.monotonic()
    spec_file = "" if "://" in spec_file else spec_file  # a hub reference cannot be edited in place

    def wait_and_explain() -> None:
        try:
            current = control.get(cluster, run_id, namespace)
            delay = explain.pending_delay(state_thresholds_.effective(dict(current.thresholds)))
            if stop.wait(max(0.0, delay - (time.monotonic() - started))):
                return
            if control.get(cluster, run_id, namespace).state != record_.PENDING:
                return
            lines = explain.lines(run(cluster, run_id, namespace, config, spec_file))
        except (errors.MlctlError, durations.TimeStringError):
            return  # the explanation is a courtesy: it must never disturb the run
        if not stop.is_set():
            say(lines)

    threading.Thread(target=wait_and_explain, name="mlctl-explain", daemon=True).start()
    return stop


def _config() -> Config:
    from mlctl.spec import config_files

    try:
        return config_files.load()
    except errors.MlctlError:
        return Config({})


def _names(cluster: Cluster, kind: str, namespace: str) -> list[str]:
    return [_name(o) for o in cluster.list("v1", kind, namespace)]


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def reads_logs(pods: Sequence[Mapping[str, Any]]) -> bool:
    """Whether explaining a run reads logs of its pods (one crashed): it must be explained before they go."""
    return any(_crashed(p) for p in pods)


def _crashed(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        return True
    statuses: Sequence[Mapping[str, Any]] = status.get("containerStatuses") or []
    return any(
        ((c.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"
        or ((c.get("state") or {}).get("terminated") or {}).get("exitCode")
        for c in statuses
    )
