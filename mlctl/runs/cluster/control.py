"""Cluster runs: find, list, abort, record and delete them.

A run's record lives on its run object (Job, MPIJob, SparkApplication):
labels say whose run it is, annotations hold its state, status text,
result, parameters, thresholds and retry policy, and each attempt whose pod
may go (disrupted, deleted) once a watcher has seen it end. Aborting writes
the record first and then removes compute (the Job is suspended, so its
controller keeps no pod; the pods still running are deleted at once, their
attempts kept in the record); the record stays. A Job with a pod failure
policy keeps a deleted pod (its tracking finalizer) until the pod has
failed, and, for a per-index back-off, until the next attempt replaces it,
which a suspended Job never makes: the abort releases that finalizer, as
the pod garbage collector would for a pod never scheduled. The abort is guarded by
the object's resourceVersion, so two watchers never abort a run twice; a
watcher killed between the record and the pods leaves the rest to the next
one (``stop_leftovers``), which does not write the record again.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from mlctl import errors
from mlctl.cluster.client import Cluster
from mlctl.kube import kinds, labels
from mlctl.runs import record as record_
from mlctl.runs import states


def adopt(cluster: Cluster, objects: Sequence[Mapping[str, Any]]) -> None:
    """Make the run object one of the owners of the run's pinned code ConfigMap.

    The ConfigMap is shared by every run of the same code; Kubernetes' garbage
    collector deletes it once the last run object owning it is deleted.
    Owners are added with a strategic merge, which merges the list by uid, so
    runs started together do not drop each other's.
    """
    run_kinds = kinds.run_kind_names()
    run = next((o for o in objects if o["kind"] in run_kinds), None)
    pinned = [o for o in objects if o["kind"] == "ConfigMap" and o.get("immutable")]
    if run is None or not pinned:
        return
    meta = run["metadata"]
    live = cluster.get(run["apiVersion"], run["kind"], meta["name"], meta.get("namespace"))
    owner = {"apiVersion": run["apiVersion"], "kind": run["kind"], "name": meta["name"], "uid": live["metadata"]["uid"]}
    for config_map in pinned:
        cm = config_map["metadata"]
        patch = {"metadata": {"ownerReferences": [owner]}}
        cluster.patch(*kinds.CONFIG_MAP.ref(), cm["name"], patch, cm.get("namespace"), strategic=True)


def pods_of(cluster: Cluster, run_id: str, namespace: str | None = None) -> list[dict[str, Any]]:
    return cluster.list(*kinds.POD.ref(), namespace, selector=labels.of_run(run_id))


def find(cluster: Cluster, run_id: str, namespace: str | None = None) -> tuple[dict[str, Any], str] | None:
    """The run object of ``run_id`` and its runtime, or None.

    Every API version mlctl renders a runtime's runs in is looked at: a run
    made with another configured version than today's is still found.
    """
    for runtime, family in kinds.RUNS.items():
        for kind in family:
            try:
                items = cluster.list(*kind.ref(), namespace, selector=labels.of_run(run_id))
            except errors.NotFound:
                continue  # that CRD, or that version of it, is not installed
            if items:
                return items[0], runtime
    return None


def no_pod_reason(cluster: Cluster, obj: Mapping[str, Any]) -> str:
    """Why the run object's controller could not create a pod, verbatim from its event ("" when it said nothing)."""
    meta = obj["metadata"]
    try:
        events = cluster.list(*kinds.EVENT.ref(), meta["namespace"], field_selector=f"involvedObject.uid={meta['uid']}")
    except (errors.Forbidden, errors.NotFound):
        return ""  # events are an explanation, not the record: a user who may not read them still gets the state
    return states.failed_create(events)


def get(cluster: Cluster, run_id: str, namespace: str | None = None) -> record_.RunRecord:
    found = find(cluster, run_id, namespace)
    if found is None:
        raise errors.NotFound(f"run {run_id} not found in namespace {namespace or cluster.namespace}")
    obj, _ = found
    pods = pods_of(cluster, run_id, obj["metadata"]["namespace"])
    reason = "" if pods or states.object_state(obj) in record_.TERMINAL else no_pod_reason(cluster, obj)
    return states.run_record(obj, pods, reason)


PAGE = 500  # objects per list request, as kubectl reads them
T = TypeVar("T")


def list_runs(cluster: Cluster, namespace: str | None = None, all_namespaces: bool = False) -> list[record_.RunRecord]:
    """Every run, newest first."""
    records = [r for page in run_pages(cluster, namespace, all_namespaces) for r in page]
    return sorted(records, key=lambda r: r.started, reverse=True)


def run_pages(
    cluster: Cluster, namespace: str | None = None, all_namespaces: bool = False, page_size: int = PAGE
) -> Iterator[list[record_.RunRecord]]:
    """The runs, page by page as the API server hands their objects over, each page newest first.

    A page's pods are read with it, selected by the page's run ids: the
    first page is complete before the next is asked for; from then on the
    next page of run objects is read while the current one's pods are.
    """
    where = None if all_namespaces else (namespace or cluster.namespace)
    seen: set[str] = set()  # uids: a CRD serving two versions lists its objects under each
    for kind in kinds.run_kinds():
        try:
            selector = f"{labels.MANAGED},{labels.RUN_ID}"
            for page in _read_ahead(cluster.page_by_page(*kind.ref(), where, selector, page_size)):
                objects = [o for o in page if o["metadata"]["uid"] not in seen]
                seen.update(o["metadata"]["uid"] for o in objects)
                if objects:
                    yield _records(cluster, objects, where, page_size)
        except errors.NotFound:
            continue  # that CRD, or that version of it, is not installed


def _read_ahead(pages: Iterator[T]) -> Iterator[T]:
    """The pages; from the second on, the next one read while the caller works on the current one.

    The first is read alone: decoding the second beside it would hold up the
    first on its way to the screen.
    """
    first = next(pages, None)
    if first is None:
        return
    yield first
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlctl-pages") as pool:
        coming = pool.submit(next, pages, None)
        while (page := coming.result()) is not None:
            coming = pool.submit(next, pages, None)
            yield page


def _records(
    cluster: Cluster, objects: Sequence[Mapping[str, Any]], where: str | None, page_size: int
) -> list[record_.RunRecord]:
    """The records of run objects, with their pods (one paged listing for all of them), newest first."""

    def run_of(obj: Mapping[str, Any]) -> tuple[str, str]:
        meta = obj["metadata"]
        return meta.get("namespace", ""), (meta.get("labels") or {}).get(labels.RUN_ID, "")

    ids = sorted({run_of(o)[1] for o in objects} - {""})
    by_run: dict[tuple[str, str], list[dict[str, Any]]] = {}
    if ids:
        for page in cluster.page_by_page(*kinds.POD.ref(), where, f"{labels.RUN_ID} in ({','.join(ids)})", page_size):
            for pod in page:
                by_run.setdefault(run_of(pod), []).append(pod)
    records = [states.run_record(o, by_run.get(run_of(o), [])) for o in objects]
    return sorted(records, key=lambda r: r.started, reverse=True)


def _record_patch(
    state: str, status_text: str, result: Mapping[str, Any] | None = None, traceback: str = ""
) -> dict[str, Any]:
    annotations = {
        labels.STATE: state,
        labels.STATUS_TEXT: status_text,
        labels.FINISHED: states.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if result:
        annotations[labels.RESULT] = json.dumps(dict(result), default=str)[:8000]
    if traceback:
        annotations[labels.TRACEBACK] = traceback[:4000]
    return {"metadata": {"annotations": annotations}}


def keep_attempts(cluster: Cluster, obj: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> None:
    """Keep the attempts of ``pods`` on the run object, so the record has them once the pods are gone.

    One annotation per pod, merged: two watchers writing at once both land.
    """
    annotations = dict(states.attempt_annotation(pod) for pod in pods)
    if not annotations:
        return
    meta = obj["metadata"]
    with contextlib.suppress(errors.NotFound):  # the run was deleted meanwhile: nothing to keep
        cluster.patch(
            obj["apiVersion"], obj["kind"], meta["name"], {"metadata": {"annotations": annotations}}, meta["namespace"]
        )


def keep_explanation(cluster: Cluster, obj: Mapping[str, Any], explanation: str) -> None:
    """Add why a run was stuck to its record, once the abort is written (nothing to say: nothing written)."""
    if not json.loads(explanation or "[]"):
        return
    meta = obj["metadata"]
    with contextlib.suppress(errors.NotFound):  # the run was deleted meanwhile
        cluster.patch(
            obj["apiVersion"],
            obj["kind"],
            meta["name"],
            {"metadata": {"annotations": {labels.EXPLANATION: explanation}}},
            meta["namespace"],
        )


def _release(cluster: Cluster, pods: Sequence[Mapping[str, Any]], namespace: str) -> None:
    """Take the Job controller's tracking finalizer off stopped pods of a suspended Job, so they go."""
    for pod in pods:
        finalizers = pod["metadata"].get("finalizers") or []
        if labels.JOB_TRACKING_FINALIZER not in finalizers:
            continue
        kept = [f for f in finalizers if f != labels.JOB_TRACKING_FINALIZER]
        with contextlib.suppress(errors.NotFound):  # already gone
            cluster.patch(
                *kinds.POD.ref(), pod["metadata"]["name"], {"metadata": {"finalizers": kept or None}}, namespace
            )


def _ended(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


ABORT_TRIES = 8  # reads and conditional writes of the run object before an abort gives up


def abort(
    cluster: Cluster,
    run_id: str,
    status_text: str,
    namespace: str | None = None,
    explanation: str = "",
    state: str = record_.ABORTED,
    seen: tuple[Mapping[str, Any], str, Sequence[Mapping[str, Any]]] | None = None,
    stop_later: Callable[[Callable[[], None]], None] | None = None,
) -> bool:
    """Abort a run; False when it had already finished or been aborted (by anyone).

    ``explanation`` (why it was stuck, ``mlctl.runs.explain``) is kept in the
    record. ``state`` is what the record says: aborted (a threshold, a user),
    or failed (disrupted more often than its bound allows). ``seen`` is the
    run object, its runtime and its pods as the caller has just read them:
    the first try is made with them (guarded by the object's resourceVersion
    like any other, so a copy changed meanwhile only costs a second look).
    ``stop_later`` takes the removal of the run's pods, once the record is
    written, to do it when it sees fit (a watcher aborting many runs writes
    every record first); by default it is done before returning. Raises
    ``Conflict`` when the run object kept changing under every try (its
    controller writing its status): the caller may try again.
    """
    for _ in range(ABORT_TRIES):
        pods: Sequence[Mapping[str, Any]]
        if seen is not None:
            obj, runtime, pods = seen
            seen = None
        else:
            found = find(cluster, run_id, namespace)
            if found is None:
                raise errors.NotFound(f"run {run_id} not found in namespace {namespace or cluster.namespace}")
            obj, runtime = found
            pods = pods_of(cluster, run_id, obj["metadata"]["namespace"])
        meta = obj["metadata"]
        if (meta.get("annotations") or {}).get(labels.STATE) in record_.TERMINAL:
            return False
        current = states.run_record(obj, pods)
        if current.state in record_.TERMINAL:
            return False
        going = [pod for pod in pods if not _ended(pod)]  # a finished attempt's pod stays, with its story
        patch = _record_patch(state, status_text)
        patch["metadata"]["annotations"].update(states.kept_on_abort(runtime, pods, status_text))
        patch["metadata"]["resourceVersion"] = meta["resourceVersion"]  # lose the race rather than abort twice
        if explanation:
            patch["metadata"]["annotations"][labels.EXPLANATION] = explanation
        if runtime == "job":
            patch["spec"] = {"suspend": True}
        elif obj["apiVersion"] == kinds.MPIJOB.api_version:  # a v1 MPIJob is left as it is; its pods go
            patch["spec"] = {"runPolicy": {"suspend": True}}
        try:
            cluster.patch(obj["apiVersion"], obj["kind"], meta["name"], patch, meta["namespace"])
        except errors.Conflict:
            continue  # changed under us: look again
        held = [p for p in pods if p in going or (p["metadata"].get("deletionTimestamp") and _ended(p))]
        stop = functools.partial(_stop, cluster, runtime, meta["namespace"], going, held)
        if stop_later is None:
            stop()
        else:
            stop_later(stop)
        return True
    raise errors.Conflict(f"run {run_id} changed under each of {ABORT_TRIES} tries to abort it; try again")


def _stop(
    cluster: Cluster,
    runtime: str,
    namespace: str,
    going: Sequence[Mapping[str, Any]],
    held: Sequence[Mapping[str, Any]],
) -> None:
    """Delete a stopped run's pods still going; for a job, release the ones the Job controller holds."""
    for pod in going:
        cluster.delete(*kinds.POD.ref(), pod["metadata"]["name"], namespace, grace_seconds=0)
    if runtime == "job":
        _release(cluster, held, namespace)


def stop_leftovers(cluster: Cluster, obj: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> None:
    """Remove what an interrupted abort left of a run recorded aborted.

    An abort writes the record first: a watcher killed before it deleted the
    pods (or released a job's) leaves them running, or terminating forever
    under the Job controller's finalizer, and a second abort would find the
    run already aborted. The record is not written again.
    """
    runtime = states.runtime_of(obj)
    going = [p for p in pods if not _ended(p) and not p["metadata"].get("deletionTimestamp")]
    held = [p for p in pods if p in going or p["metadata"].get("deletionTimestamp")]
    _stop(cluster, runtime, obj["metadata"]["namespace"], going, held)


def finish(cluster: Cluster, run_id: str, record: record_.RunRecord, namespace: str | None = None) -> None:
    """Write a finished run's state and result onto its object (kept after pods are gone)."""
    found = find(cluster, run_id, namespace)
    if found is None:
        return
    obj, _ = found
    if (obj["metadata"].get("annotations") or {}).get(labels.STATE) in record_.TERMINAL:
        return
    patch = _record_patch(record.state, record.status_text, record.result, record.traceback)
    runtime = states.runtime_of(obj)
    pods = [p for p in pods_of(cluster, run_id, obj["metadata"]["namespace"]) if states.primary(runtime, p)]
    patch["metadata"]["annotations"].update(states.attempt_annotation(pod) for pod in pods)
    cluster.patch(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], patch, obj["metadata"]["namespace"])


def delete(cluster: Cluster, run_id: str, namespace: str | None = None) -> bool:
    found = find(cluster, run_id, namespace)
    if found is None:
        return False
    obj, _ = found
    meta = obj["metadata"]
    return cluster.delete(obj["apiVersion"], obj["kind"], meta["name"], meta["namespace"], propagation="Background")
