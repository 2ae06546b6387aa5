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
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mlctl import errors
from mlctl.cluster.client import Cluster, concurrently
from mlctl.config import Config
from mlctl.kube import kinds, labels
from mlctl.runs import explain
from mlctl.runs import record as record_
from mlctl.runs.cluster import control
from mlctl.spec import durations
from mlctl.spec import state_thresholds as state_thresholds_

LOG_LINES = 20


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
) -> explain.Facts:
    """What there is to know about a run; ``seen``: its run object and pods, just read by the caller."""
    reads = _Reads()
    ns = namespace or cluster.namespace
    owners, pods = ([seen[0]], list(seen[1])) if seen else _subjects(cluster, reads, run_id, ns)
    jobs = _reads_around(cluster, reads, ns, owners, pods)
    keys = list(jobs)
    results = dict(zip(keys, concurrently(lambda key: jobs[key](), keys), strict=True))
    config = config or Config({})
    bound = results.get("bound")
    return explain.Facts(
        run_id=run_id,
        namespace=ns,
        pods=pods,
        events=results.get("events") or [],
        templates=[t for o in owners for t in _templates(o)],
        nodes=results.get("nodes"),
        node_requests=explain.requested_on_nodes(bound) if bound is not None else None,
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
    cluster: Cluster, reads: _Reads, ns: str, owners: list[Mapping[str, Any]], pods: list[dict[str, Any]]
) -> dict[str, Callable[[], Any]]:
    """What else to read, by the name of the fact it gives: more when there is no pod, or a pod waits for a node."""
    waiting = any(not (p.get("spec") or {}).get("nodeName") for p in pods)
    troubled = [p for p in pods if _crashed(p)]
    involved = [(_name(p), "Pod") for p in pods] + [(_name(o), str(o.get("kind", ""))) for o in owners]

    def events_of(target: tuple[str, str]) -> list[dict[str, Any]]:
        name, kind = target
        return cluster.list(
            *kinds.EVENT.ref(), ns, field_selector=f"involvedObject.name={name},involvedObject.kind={kind}"
        )

    def tail(pod: Mapping[str, Any]) -> tuple[str, list[str]]:
        lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        with contextlib.suppress(errors.MlctlError):  # a pod that never started has no logs
            lines.extend(cluster.logs(_name(pod), ns))
        return _name(pod), list(lines)

    jobs: dict[str, Callable[[], Any]] = {
        "events": lambda: reads.attempt(
            "events", lambda: [e for group in concurrently(events_of, involved) for e in group]
        ),
        "logs": lambda: dict(concurrently(tail, troubled)),
        "claims": lambda: reads.attempt(
            "persistent volume claims", lambda: _names(cluster, "PersistentVolumeClaim", ns)
        ),
        "quotas": lambda: reads.attempt("resource quotas", lambda: cluster.list(*kinds.RESOURCE_QUOTA.ref(), ns)),
    }
    if not pods:
        jobs["service_accounts"] = lambda: reads.attempt(
            "service accounts", lambda: _names(cluster, "ServiceAccount", ns)
        )
        jobs["priority_classes"] = lambda: reads.attempt(
            "priority classes",
            lambda: [_name(p) for p in cluster.list(*kinds.PRIORITY_CLASS.ref())],
        )
    if waiting:
        jobs["nodes"] = lambda: reads.attempt("nodes", lambda: cluster.list(*kinds.NODE.ref()))
        jobs["bound"] = lambda: reads.attempt(
            "pods of other namespaces (what is requested on each node)",
            lambda: cluster.list(
                *kinds.POD.ref(),
                all_namespaces=True,
                field_selector="spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed",
            ),
        )
    return jobs


def run(
    cluster: Cluster,
    run_id: str,
    namespace: str | None = None,
    config: Config | None = None,
    spec_file: str = "",
    seen: tuple[Mapping[str, Any], Sequence[dict[str, Any]]] | None = None,
) -> explain.Explanation:
    """Why the run is where it is (``mlctl runs explain``)."""
    return explain.explain(facts(cluster, run_id, namespace, config, spec_file, seen))


def for_record(
    cluster: Cluster,
    run_id: str,
    namespace: str | None = None,
    seen: tuple[Mapping[str, Any], Sequence[dict[str, Any]]] | None = None,
) -> str:
    """The explanation as kept in an aborted run's record; empty when it cannot be worked out.

    ``seen``: the run object and its pods, as the caller (an abort) has just read them.
    """
    try:
        return explain.record_text(run(cluster, run_id, namespace, _config(), seen=seen))
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
